//! ASN and country from MaxMind-format (`.mmdb`) databases on disk.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::{LookupResult, PathElement, Reader};
use serde::Serialize;

use crate::TraceError;

/// The databases named in the configuration, read into memory once.
///
/// Any mix of GeoLite2/GeoIP2 ASN, Country and City files (or other files
/// with the same record shapes) works: each address is looked up in every
/// file, and the first file that has a field gives it.
pub struct GeoDatabases {
    databases: Vec<(PathBuf, Reader<Vec<u8>>)>,
}

/// What the databases say about one address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GeoInfo {
    /// `autonomous_system_number` (ASN records).
    pub asn: Option<u32>,
    /// `autonomous_system_organization` (ASN records).
    pub as_org: Option<String>,
    /// `country.iso_code`, else `registered_country.iso_code` (Country and
    /// City records): an ISO 3166-1 alpha-2 code.
    pub country: Option<String>,
}

use PathElement::Key;
const ASN: [PathElement<'static>; 1] = [Key("autonomous_system_number")];
const AS_ORG: [PathElement<'static>; 1] = [Key("autonomous_system_organization")];
const COUNTRY: [PathElement<'static>; 2] = [Key("country"), Key("iso_code")];
const REGISTERED_COUNTRY: [PathElement<'static>; 2] = [Key("registered_country"), Key("iso_code")];

impl GeoDatabases {
    /// Opens every file in `paths`; the first that cannot be read is the
    /// error.
    pub fn open(paths: &[PathBuf]) -> Result<GeoDatabases, TraceError> {
        let databases = paths
            .iter()
            .map(|path| {
                Reader::open_readfile(path)
                    .map(|reader| (path.clone(), reader))
                    .map_err(|e| TraceError::GeoOpen {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(GeoDatabases { databases })
    }

    /// What the databases know of `addr`, and the databases that could not
    /// be searched for it.
    pub fn lookup(&self, addr: IpAddr) -> (GeoInfo, Vec<TraceError>) {
        let mut info = GeoInfo::default();
        let mut errors = Vec::new();
        for (path, reader) in &self.databases {
            if let Err(reason) = fill_from(reader, addr, &mut info) {
                errors.push(TraceError::GeoLookup {
                    path: path.display().to_string(),
                    reason,
                });
            }
        }
        (info, errors)
    }
}

/// Fills the fields of `info` still empty from `reader`'s record for `addr`.
fn fill_from(reader: &Reader<Vec<u8>>, addr: IpAddr, info: &mut GeoInfo) -> Result<(), String> {
    if addr.is_ipv6() && reader.metadata().ip_version == 4 {
        return Ok(()); // an IPv4-only database knows nothing of IPv6
    }
    let record = reader.lookup(addr).map_err(|e| e.to_string())?;
    if !record.has_data() {
        return Ok(());
    }
    if info.asn.is_none() {
        info.asn = field(&record, &ASN)?;
    }
    if info.as_org.is_none() {
        info.as_org = field(&record, &AS_ORG)?;
    }
    if info.country.is_none() {
        info.country = match field(&record, &COUNTRY)? {
            Some(code) => Some(code),
            None => field(&record, &REGISTERED_COUNTRY)?,
        };
    }
    Ok(())
}

/// The value at `path` in `record`, `None` when the record has no such
/// field.
fn field<T: serde::de::DeserializeOwned>(
    record: &LookupResult<'_, Vec<u8>>,
    path: &[PathElement<'_>],
) -> Result<Option<T>, String> {
    record.decode_path(path).map_err(|e| e.to_string())
}

impl std::fmt::Debug for GeoDatabases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<&Path> = self.databases.iter().map(|(p, _)| p.as_path()).collect();
        f.debug_struct("GeoDatabases")
            .field("paths", &paths)
            .finish()
    }
}
