//! Apache Kafka: an `ApiVersions` request, version 0 (API key 18), which
//! every broker answers before authentication with the range of versions
//! it supports for each API. A well-formed answer to our correlation id is
//! a Kafka broker.

use crate::cpe;
use crate::model::ServiceInfo;

use super::io::{Session, Verdict, exchange};
use super::parse::{Cursor, Parsed};

const API_VERSIONS: i16 = 18;
const CORRELATION_ID: i32 = 0x5054_5256; // "PTRV"

/// The request.
pub(crate) fn request() -> Vec<u8> {
    let client = b"portreeve";
    let mut body = Vec::new();
    body.extend_from_slice(&API_VERSIONS.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&CORRELATION_ID.to_be_bytes());
    body.extend_from_slice(&(client.len() as i16).to_be_bytes());
    body.extend_from_slice(client);
    let mut m = (body.len() as i32).to_be_bytes().to_vec();
    m.extend(body);
    m
}

/// What the broker answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiVersions {
    /// The error code (0, or 35 `UNSUPPORTED_VERSION` from brokers that
    /// still list their versions).
    pub(crate) error: i16,
    /// `(api key, min version, max version)`.
    pub(crate) apis: Vec<(i16, i16, i16)>,
}

/// Parses the response.
pub(crate) fn parse(buf: &[u8]) -> Parsed<ApiVersions> {
    let mut c = Cursor::new(buf);
    let Some(size) = c.be_i32() else {
        return Parsed::Incomplete;
    };
    if !(10..=1 << 20).contains(&size) {
        return Parsed::Invalid;
    }
    match c.be_i32() {
        None => return Parsed::Incomplete,
        Some(CORRELATION_ID) => {}
        Some(_) => return Parsed::Invalid,
    }
    if buf.len() < 4 + size as usize {
        return Parsed::Incomplete;
    }
    let mut c = Cursor::new(&buf[8..4 + size as usize]);
    let (Some(error), Some(count)) = (c.be_i16(), c.be_i32()) else {
        return Parsed::Invalid;
    };
    if !(0..=1000).contains(&count) || !matches!(error, 0 | 35) {
        return Parsed::Invalid;
    }
    let mut apis = Vec::new();
    for _ in 0..count {
        let (Some(key), Some(min), Some(max)) = (c.be_i16(), c.be_i16(), c.be_i16()) else {
            return Parsed::Invalid;
        };
        if key < 0 || min < 0 || min > max {
            return Parsed::Invalid;
        }
        apis.push((key, min, max));
    }
    // A broker lists ApiVersions itself; an empty list proves nothing.
    if error == 0 && !apis.iter().any(|&(k, _, _)| k == API_VERSIONS) {
        return Parsed::Invalid;
    }
    Parsed::Done(ApiVersions { error, apis })
}

/// The service described by the answer.
pub(crate) fn describe(v: &ApiVersions) -> ServiceInfo {
    ServiceInfo {
        name: "kafka".into(),
        product: Some("Apache Kafka".into()),
        extra: Some(match v.error {
            0 => format!("{} APIs", v.apis.len()),
            _ => "ApiVersions v0 unsupported".into(),
        }),
        cpe: Some(cpe::application("apache", "kafka", None)),
        ..ServiceInfo::default()
    }
}

/// The probe.
pub(crate) fn probe(session: &mut Session) -> Verdict {
    let Ok(mut s) = session.connect() else {
        return Verdict::Unreachable;
    };
    exchange(&mut s, &request(), session.timeout, |b, _| parse(b)).into_verdict(|v| {
        let mut info = describe(&v);
        info.method = "probe:kafka".into();
        Verdict::Found(info)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(error: i16, apis: &[(i16, i16, i16)]) -> Vec<u8> {
        let mut body = CORRELATION_ID.to_be_bytes().to_vec();
        body.extend_from_slice(&error.to_be_bytes());
        body.extend_from_slice(&(apis.len() as i32).to_be_bytes());
        for &(k, a, b) in apis {
            for x in [k, a, b] {
                body.extend_from_slice(&x.to_be_bytes());
            }
        }
        let mut m = (body.len() as i32).to_be_bytes().to_vec();
        m.extend(body);
        m
    }

    #[test]
    fn request_shape() {
        let r = request();
        assert_eq!(
            i32::from_be_bytes(r[..4].try_into().unwrap()) as usize,
            r.len() - 4
        );
        assert_eq!(&r[4..8], &[0, 18, 0, 0]);
    }

    #[test]
    fn responses() {
        let ok = response(0, &[(0, 0, 9), (1, 0, 13), (18, 0, 3)]);
        let v = parse(&ok).done().unwrap();
        assert_eq!(v.apis.len(), 3);
        let info = describe(&v);
        assert_eq!(info.name, "kafka");
        assert_eq!(info.extra.as_deref(), Some("3 APIs"));
        assert_eq!(parse(&ok[..12]), Parsed::Incomplete);
        assert_eq!(parse(&response(0, &[])), Parsed::Invalid);
        assert_eq!(parse(&response(0, &[(18, 3, 1)])), Parsed::Invalid);
        assert_eq!(parse(&response(7, &[(18, 0, 3)])), Parsed::Invalid);
        assert_eq!(parse(b"HTTP/1.1 400 Bad"), Parsed::Invalid);
        let mut wrong_id = ok.clone();
        wrong_id[7] ^= 1;
        assert_eq!(parse(&wrong_id), Parsed::Invalid);
    }
}
