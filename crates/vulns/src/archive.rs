//! Reading OSV advisories: from a directory of `*.json` files, from one
//! such file, from an OSV zip archive (the `ECOSYSTEM/all.zip` exports, one
//! `ID.json` per entry), or from what [`import`] stored in a state
//! directory.
//!
//! Only advisories naming a wanted package are kept, and a Debian-sized
//! archive (tens of thousands of entries) is read for a few dozen packages
//! in a fraction of a second: each entry is decompressed and its raw bytes
//! searched for the quoted names (one Aho-Corasick pass) before anything
//! is parsed, and the entries are shared out among the machine's cores. An
//! entry that does not contain a wanted name, written literally or JSON-
//! escaped, cannot name the package, so the prefilter never drops one that
//! matters; entries it passes are parsed and checked exactly. Entries it
//! drops are not validated: [`import`] is what checks a whole archive.
//!
//! Withdrawn advisories are dropped and counted. Bad input is reported
//! where it is: `FILE:LINE:COLUMN` or `ARCHIVE!ENTRY:LINE:COLUMN`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use aho_corasick::AhoCorasick;
use serde::{Deserialize, Serialize};
use zip::ZipArchive;
use zip::write::{SimpleFileOptions, ZipWriter};

use crate::osv::Advisory;

/// The file [`import`] writes in its directory: the advisories and, as its
/// last entry, the package-name index (`INDEX_ENTRY`). One file, so that
/// replacing it (write aside, then rename) is atomic.
pub const IMPORTED_FILE: &str = "osv-advisories.zip";

/// The index entry inside [`IMPORTED_FILE`].
const INDEX_ENTRY: &str = "portreeve-index.json";

/// The index format [`import`] writes and [`load_imported`] reads.
const INDEX_FORMAT: u32 = 1;

/// Advisories read for a set of wanted packages.
#[derive(Clone, Debug, PartialEq)]
pub struct Advisories {
    /// The advisories naming a wanted package and not withdrawn, sorted by
    /// id.
    pub advisories: Vec<Advisory>,
    /// How many entries (JSON documents) the source holds.
    pub entries: usize,
    /// Withdrawn advisories naming a wanted package, dropped.
    pub withdrawn: usize,
}

/// What [`import`] stored.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImportSummary {
    /// Advisories stored (withdrawn ones included: they are counted and
    /// dropped when read).
    pub advisories: usize,
    /// Of those, withdrawn.
    pub withdrawn: usize,
    /// Advisories per ecosystem as the entries write it (`Debian:12`):
    /// an advisory naming several counts once in each.
    pub ecosystems: BTreeMap<String, usize>,
    /// Distinct package names.
    pub packages: usize,
}

/// Why advisories could not be read or imported.
#[derive(Debug, thiserror::Error)]
pub enum OsvError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// A file is not a readable zip archive (or an entry in it is damaged).
    #[error("{}: not a readable OSV zip archive: {source}", path.display())]
    Zip {
        /// The archive.
        path: PathBuf,
        /// What the zip reader said.
        source: zip::result::ZipError,
    },
    /// An entry is not an OSV advisory.
    #[error("{location}:{line}:{column}: {message}")]
    Entry {
        /// `FILE`, or `ARCHIVE!ENTRY` for an entry of a zip archive.
        location: String,
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What is wrong there.
        message: String,
    },
    /// The directory or archive holds no `*.json` entry.
    #[error("{}: no OSV advisories (no *.json entries) in it", path.display())]
    Empty {
        /// The directory or archive.
        path: PathBuf,
    },
    /// [`load_imported`] found nothing imported.
    #[error("{}: no imported advisories (import an OSV archive first)", path.display())]
    NotImported {
        /// The file that is missing.
        path: PathBuf,
    },
    /// The imported file is not what [`import`] writes.
    #[error("{}: the imported advisories are damaged ({reason}): import them again", path.display())]
    Damaged {
        /// The imported file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

/// Reads the advisories naming any of the `wanted` package names (in any
/// ecosystem) from `path`: a directory (every `*.json` under it, however
/// deep), one OSV JSON file (a name ending in `.json`: one advisory), or
/// an OSV zip archive (every `*.json` entry).
pub fn load(path: &Path, wanted: &[&str]) -> Result<Advisories, OsvError> {
    let source = Source::open(path)?;
    // One file named by the operator is parsed whatever it names: a
    // mistake in it is reported, never passed over as about other packages.
    let prefilter = (!source.is_one_file()).then(|| Prefilter::new(wanted));
    let (entries, outcomes) = scan(path, &source, prefilter.as_ref())?;
    Ok(keep_wanted(entries, outcomes, wanted))
}

/// Validates every entry of the directory, JSON file or archive at `from`
/// and, only if all are advisories, stores them with a package-name index
/// as `dir/`[`IMPORTED_FILE`], replacing any earlier import atomically. On
/// any error nothing under `dir` changes.
pub fn import(from: &Path, dir: &Path) -> Result<ImportSummary, OsvError> {
    let source = Source::open(from)?;
    let (_, outcomes) = scan(from, &source, None)?;
    let mut summary = ImportSummary::default();
    let mut packages: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (position, outcome) in outcomes.iter().enumerate() {
        let advisory = &outcome.advisory;
        summary.advisories += 1;
        summary.withdrawn += usize::from(advisory.withdrawn.is_some());
        let ecosystems: BTreeSet<&str> = advisory
            .affected
            .iter()
            .map(|a| a.package.ecosystem.as_str())
            .collect();
        for ecosystem in ecosystems {
            *summary.ecosystems.entry(ecosystem.to_owned()).or_default() += 1;
        }
        for name in advisory.package_names() {
            let position = u32::try_from(position).expect("fewer than 2^32 entries");
            packages.entry(name.to_owned()).or_default().push(position);
        }
    }
    summary.packages = packages.len();

    std::fs::create_dir_all(dir).map_err(|source| io_error(dir, source))?;
    let target = dir.join(IMPORTED_FILE);
    let temp = tempfile::Builder::new()
        .prefix(".osv-import-")
        .tempfile_in(dir)
        .map_err(|source| io_error(dir, source))?;
    let mut writer = ZipWriter::new(io::BufWriter::new(temp));
    let zip_error = |source| OsvError::Zip {
        path: target.clone(),
        source,
    };
    copy_entries(from, &source, &outcomes, &mut writer, &zip_error)?;
    let index = Index {
        format: INDEX_FORMAT,
        summary: summary.clone(),
        packages,
    };
    writer
        .start_file(INDEX_ENTRY, deflated())
        .map_err(zip_error)?;
    serde_json::to_writer(&mut writer, &index)
        .map_err(|e| io_error(&target, io::Error::other(e)))?;
    let temp = writer
        .finish()
        .map_err(zip_error)?
        .into_inner()
        .map_err(|e| io_error(&target, e.into_error()))?;
    temp.as_file()
        .sync_all()
        .map_err(|source| io_error(&target, source))?;
    temp.persist(&target)
        .map_err(|e| io_error(&target, e.error))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| io_error(dir, source))?;
    Ok(summary)
}

/// Reads the advisories naming any of the `wanted` package names from what
/// [`import`] stored in `dir`: only their entries are read, through the
/// index.
pub fn load_imported(dir: &Path, wanted: &[&str]) -> Result<Advisories, OsvError> {
    let path = dir.join(IMPORTED_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(OsvError::NotImported { path });
        }
        Err(source) => return Err(io_error(&path, source)),
    };
    let damaged = |reason: String| OsvError::Damaged {
        path: path.clone(),
        reason,
    };
    let mut archive = ZipArchive::new(BufReader::new(file)).map_err(|e| damaged(e.to_string()))?;
    let index: Index = {
        let entry = archive
            .by_name(INDEX_ENTRY)
            .map_err(|e| damaged(format!("{INDEX_ENTRY}: {e}")))?;
        serde_json::from_reader(BufReader::new(entry))
            .map_err(|e| damaged(format!("{INDEX_ENTRY}: {e}")))?
    };
    if index.format != INDEX_FORMAT {
        return Err(damaged(format!(
            "index format {} where {INDEX_FORMAT} is read",
            index.format
        )));
    }
    let positions: BTreeSet<u32> = wanted
        .iter()
        .filter_map(|name| index.packages.get(*name))
        .flatten()
        .copied()
        .collect();
    let mut outcomes = Vec::with_capacity(positions.len());
    let mut reader = EntryReader::Zip {
        path: &path,
        archive,
    };
    let mut buffer = Vec::new();
    for position in positions {
        let Some(location) = reader.read(position as usize, &mut buffer)? else {
            return Err(damaged(format!("entry {position} is not an advisory")));
        };
        let advisory = read_entry(&reader.shown(&location), &buffer)?;
        outcomes.push(Parsed {
            position: position as usize,
            advisory,
            location,
        });
    }
    Ok(keep_wanted(index.summary.advisories, outcomes, wanted))
}

/// The index [`import`] stores: the summary and, per package name, the
/// positions of the entries naming it.
#[derive(Serialize, Deserialize)]
struct Index {
    format: u32,
    summary: ImportSummary,
    packages: BTreeMap<String, Vec<u32>>,
}

/// One parsed entry and where it came from.
struct Parsed {
    /// The entry's position in the source (archive index, or the place of
    /// the file among the directory's sorted files).
    position: usize,
    advisory: Advisory,
    /// The entry's name inside an archive, or the file's path relative to
    /// its directory: what the imported copy calls it.
    location: String,
}

/// From parsed entries, the advisories naming a wanted package, with the
/// withdrawn ones counted and dropped.
fn keep_wanted(entries: usize, outcomes: Vec<Parsed>, wanted: &[&str]) -> Advisories {
    let mut advisories = Vec::new();
    let mut withdrawn = 0;
    for Parsed { advisory, .. } in outcomes {
        if !wanted.iter().any(|name| advisory.names_package(name)) {
            continue;
        }
        if advisory.withdrawn.is_some() {
            withdrawn += 1;
        } else {
            advisories.push(advisory);
        }
    }
    advisories.sort_by(|a, b| a.id.cmp(&b.id));
    Advisories {
        advisories,
        entries,
        withdrawn,
    }
}

/// The raw-byte test for entries that may name a wanted package: the name
/// in quotes as JSON writes it (`"openssh"`), or any `\u` escape (which
/// could spell any character of a name). JSON may also write `/` as `\/`,
/// each slash either way, so a name with slashes is looked for by its
/// longest slash-free piece (`"example.org` for `example.org/m`), which
/// every spelling contains. The names are found with packed SIMD searchers
/// (Teddy, 64 names each) where the CPU allows, else an Aho-Corasick
/// automaton; `\u` with a separate substring search, since a two-byte
/// pattern among the names would weaken the packed searchers' three-byte
/// fingerprints.
struct Prefilter {
    names: Names,
    escape: memchr::memmem::Finder<'static>,
}

enum Names {
    Packed(Vec<aho_corasick::packed::Searcher>),
    Automaton(AhoCorasick),
}

/// The most patterns one packed searcher takes.
const PACKED_PATTERNS: usize = 64;

impl Prefilter {
    fn new(wanted: &[&str]) -> Prefilter {
        let mut patterns: BTreeSet<String> = BTreeSet::new();
        for name in wanted {
            let quoted = serde_json::to_string(name).expect("a string serializes");
            let piece = quoted
                .split('/')
                .max_by_key(|piece| piece.len())
                .expect("split yields a piece");
            patterns.insert(piece.to_owned());
        }
        let patterns: Vec<String> = patterns.into_iter().collect();
        let packed: Option<Vec<_>> = patterns
            .chunks(PACKED_PATTERNS)
            .map(aho_corasick::packed::Searcher::new)
            .collect();
        let names = match packed {
            Some(searchers) => Names::Packed(searchers),
            None => Names::Automaton(
                AhoCorasick::new(&patterns).expect("quoted names build an automaton"),
            ),
        };
        Prefilter {
            names,
            escape: memchr::memmem::Finder::new(br"\u"),
        }
    }

    fn may_name(&self, bytes: &[u8]) -> bool {
        let named = match &self.names {
            Names::Packed(searchers) => searchers.iter().any(|s| s.find(bytes).is_some()),
            Names::Automaton(automaton) => automaton.is_match(bytes),
        };
        named || self.escape.find(bytes).is_some()
    }
}

/// Reads every `*.json` entry of `source`, opened from `path` (those the
/// prefilter passes, if given), on all cores; returns how many entries
/// there are and the parsed ones in source order. The first bad entry (in
/// source order) is the error.
fn scan(
    path: &Path,
    source: &Source,
    prefilter: Option<&Prefilter>,
) -> Result<(usize, Vec<Parsed>), OsvError> {
    let reader = source.reader(path)?;
    let count = reader.len();
    let entries = reader.json_entries();
    if entries == 0 {
        return Err(OsvError::Empty {
            path: path.to_owned(),
        });
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8)
        .min(count / 512 + 1);
    let next = AtomicUsize::new(0);
    // Set on the first error: batches are taken in order, so every entry
    // before a failed one has been taken already, and the rest can wait.
    let stop = AtomicBool::new(false);
    let results = Mutex::new((Vec::new(), None::<(usize, OsvError)>));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let mut reader = reader.clone();
            let (next, stop, results) = (&next, &stop, &results);
            scope.spawn(move || {
                let mut parsed = Vec::new();
                let mut buffer = Vec::new();
                let failed = 'work: loop {
                    const BATCH: usize = 64;
                    let start = next.fetch_add(BATCH, Ordering::Relaxed);
                    if start >= count || stop.load(Ordering::Relaxed) {
                        break None;
                    }
                    for position in start..(start + BATCH).min(count) {
                        let location = match reader.read(position, &mut buffer) {
                            Ok(Some(location)) => location,
                            Ok(None) => continue,
                            Err(e) => break 'work Some((position, e)),
                        };
                        if prefilter.is_some_and(|p| !p.may_name(&buffer)) {
                            continue;
                        }
                        match read_entry(&reader.shown(&location), &buffer) {
                            Ok(advisory) => parsed.push(Parsed {
                                position,
                                advisory,
                                location,
                            }),
                            Err(e) => break 'work Some((position, e)),
                        }
                    }
                };
                if failed.is_some() {
                    stop.store(true, Ordering::Relaxed);
                }
                let mut results = results.lock().expect("no worker panics holding it");
                results.0.append(&mut parsed);
                if let Some((position, e)) = failed
                    && results
                        .1
                        .as_ref()
                        .is_none_or(|(first, _)| position < *first)
                {
                    results.1 = Some((position, e));
                }
            });
        }
    });
    let (mut parsed, failed) = results.into_inner().expect("no worker panicked");
    if let Some((_, e)) = failed {
        return Err(e);
    }
    parsed.sort_by_key(|p| p.position);
    Ok((entries, parsed))
}

/// Reads one OSV JSON document, its errors located at `shown` (the file,
/// or `ARCHIVE!ENTRY`, as a user finds it): [`OsvError::Entry`] with the
/// line and column.
pub fn read_entry(shown: &str, bytes: &[u8]) -> Result<Advisory, OsvError> {
    serde_json::from_slice(bytes).map_err(|e| OsvError::Entry {
        location: shown.to_owned(),
        line: e.line().max(1),
        column: e.column().max(1),
        message: serde_message(&e),
    })
}

/// serde_json's message without its own " at line L column C" suffix (the
/// location is said in front).
fn serde_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

/// Where entries come from.
enum Source {
    /// Files relative to a directory, sorted: every `*.json` under a
    /// directory given, or the one `.json` file given (relative to the
    /// directory it is in).
    Files {
        /// The directory.
        root: PathBuf,
        /// The files.
        files: Vec<PathBuf>,
        /// Whether the one file was given rather than a directory.
        one_file: bool,
    },
    /// A zip archive's bytes.
    Zip(Vec<u8>),
}

impl Source {
    /// What `path` holds: a directory's `*.json` files, one JSON file
    /// (named `*.json`), or else a zip archive, read whole.
    fn open(path: &Path) -> Result<Source, OsvError> {
        let meta = std::fs::metadata(path).map_err(|source| io_error(path, source))?;
        if meta.is_dir() {
            return Ok(Source::Files {
                root: path.to_owned(),
                files: json_files(path)?,
                one_file: false,
            });
        }
        if let Some(name) = path.file_name()
            && Path::new(name).extension().is_some_and(|e| e == "json")
        {
            // `parent` of a bare `x.json` is the empty path, which joins
            // back to `x.json`: errors name the file as it was given.
            let root = path.parent().unwrap_or(Path::new("")).to_owned();
            return Ok(Source::Files {
                root,
                files: vec![PathBuf::from(name)],
                one_file: true,
            });
        }
        let bytes = std::fs::read(path).map_err(|source| io_error(path, source))?;
        Ok(Source::Zip(bytes))
    }

    /// Whether this is the one `.json` file given, rather than what a
    /// directory or an archive holds.
    fn is_one_file(&self) -> bool {
        matches!(self, Source::Files { one_file: true, .. })
    }

    /// A reader of the entries; `path` is the archive's, as errors name it.
    fn reader<'a>(&'a self, path: &'a Path) -> Result<EntryReader<'a, Cursor<&'a [u8]>>, OsvError> {
        Ok(match self {
            Source::Files { root, files, .. } => EntryReader::Files { root, files },
            Source::Zip(bytes) => EntryReader::Zip {
                path,
                archive: ZipArchive::new(Cursor::new(bytes.as_slice())).map_err(|source| {
                    OsvError::Zip {
                        path: path.to_owned(),
                        source,
                    }
                })?,
            },
        })
    }
}

/// Reads entries one at a time; cloned per worker (a zip archive's
/// directory is shared between the clones).
#[derive(Clone)]
enum EntryReader<'a, R> {
    Files {
        root: &'a Path,
        files: &'a [PathBuf],
    },
    Zip {
        path: &'a Path,
        archive: ZipArchive<R>,
    },
}

impl<R: Read + Seek> EntryReader<'_, R> {
    fn len(&self) -> usize {
        match self {
            EntryReader::Files { files, .. } => files.len(),
            EntryReader::Zip { archive, .. } => archive.len(),
        }
    }

    /// How many entries are OSV documents (`*.json` files).
    fn json_entries(&self) -> usize {
        match self {
            EntryReader::Files { files, .. } => files.len(),
            EntryReader::Zip { archive, .. } => archive
                .file_names_raw()
                .filter(|name| is_json_name(name))
                .count(),
        }
    }

    /// Reads entry `position` into `buffer`; its name (path relative to
    /// the directory, or name in the archive), or `None` for an archive
    /// entry that is not a `*.json` file.
    fn read(&mut self, position: usize, buffer: &mut Vec<u8>) -> Result<Option<String>, OsvError> {
        buffer.clear();
        match self {
            EntryReader::Files { root, files } => {
                let file = root.join(&files[position]);
                File::open(&file)
                    .and_then(|mut f| f.read_to_end(buffer))
                    .map_err(|source| io_error(&file, source))?;
                Ok(Some(files[position].to_string_lossy().into_owned()))
            }
            EntryReader::Zip { path, archive } => {
                let zip_error = |source| OsvError::Zip {
                    path: path.to_path_buf(),
                    source,
                };
                let mut entry = archive.by_index(position).map_err(zip_error)?;
                let name = entry.name().map_err(zip_error)?.into_owned();
                if !entry.is_file() || !is_json_name(name.as_bytes()) {
                    return Ok(None);
                }
                entry.read_to_end(buffer).map_err(|e| OsvError::Zip {
                    path: path.to_path_buf(),
                    source: e.into(),
                })?;
                Ok(Some(name))
            }
        }
    }

    /// An entry's name as a user finds it: the file's path, or
    /// `ARCHIVE!ENTRY`.
    fn shown(&self, name: &str) -> String {
        match self {
            EntryReader::Files { root, .. } => root.join(name).display().to_string(),
            EntryReader::Zip { path, .. } => format!("{}!{name}", path.display()),
        }
    }
}

/// Whether an archive entry is an OSV document: a `*.json` file, other
/// than the index of an imported copy (so that one can be read or
/// imported again like any archive).
fn is_json_name(name: &[u8]) -> bool {
    name.ends_with(b".json") && name != INDEX_ENTRY.as_bytes()
}

/// The `*.json` files under `root`, however deep, relative to it, sorted.
fn json_files(root: &Path) -> Result<Vec<PathBuf>, OsvError> {
    let mut files = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = root.join(&relative);
        let read = std::fs::read_dir(&dir).map_err(|source| io_error(&dir, source))?;
        for entry in read {
            let entry = entry.map_err(|source| io_error(&dir, source))?;
            let kind = entry
                .file_type()
                .map_err(|source| io_error(&entry.path(), source))?;
            let name = relative.join(entry.file_name());
            if kind.is_dir() {
                pending.push(name);
            } else if name.extension().is_some_and(|e| e == "json") {
                files.push(name);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Writes the validated entries into the imported archive: an archive's
/// entries copied as they are compressed, files compressed.
fn copy_entries<W: Write + Seek>(
    from: &Path,
    source: &Source,
    outcomes: &[Parsed],
    writer: &mut ZipWriter<W>,
    zip_error: &dyn Fn(zip::result::ZipError) -> OsvError,
) -> Result<(), OsvError> {
    match source {
        Source::Files { root, .. } => {
            for parsed in outcomes {
                let file = root.join(&parsed.location);
                let bytes = std::fs::read(&file).map_err(|source| io_error(&file, source))?;
                let name = parsed.location.replace(std::path::MAIN_SEPARATOR, "/");
                writer.start_file(name, deflated()).map_err(zip_error)?;
                writer.write_all(&bytes).map_err(|e| zip_error(e.into()))?;
            }
        }
        Source::Zip(bytes) => {
            let mut archive =
                ZipArchive::new(Cursor::new(bytes.as_slice())).map_err(|source| OsvError::Zip {
                    path: from.to_owned(),
                    source,
                })?;
            for parsed in outcomes {
                let entry =
                    archive
                        .by_index_raw(parsed.position)
                        .map_err(|source| OsvError::Zip {
                            path: from.to_owned(),
                            source,
                        })?;
                writer.raw_copy_file(entry).map_err(zip_error)?;
            }
        }
    }
    Ok(())
}

fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated)
}

fn io_error(path: &Path, source: io::Error) -> OsvError {
    OsvError::Io {
        path: path.to_owned(),
        source,
    }
}
