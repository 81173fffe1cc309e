//! Checkpoints (c2sp.org/tlog-checkpoint): the note text that states a
//! log's tree head.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::error::{NoteError, snippet};
use super::signed::{Note, check_chars, check_size};

/// A transparency log checkpoint: which log, how many leaves, and the
/// Merkle tree root over them.
///
/// It is the text of a signed note, one field a line:
///
/// ```text
/// example.com/behind-the-sofa
/// 20852163
/// CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
/// ```
///
/// Reading is strict — decimal size without leading zeros, canonical
/// base64, no empty lines — so that each tree head has exactly one text.
/// Two different texts for one tree head would let a log show different
/// bytes to different parties while claiming the same state, and would
/// make byte comparison of checkpoints useless to witnesses.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Checkpoint {
    /// The origin line: names the log. Non-empty, one line; the
    /// specification recommends a schema-less URL such as
    /// `example.com/log42`, but readers must not assume one.
    pub origin: String,
    /// The number of leaves in the tree.
    pub size: u64,
    /// The RFC 6962 Merkle tree root hash at that size.
    pub root: [u8; 32],
    /// Extension lines: opaque, optional, each non-empty. The
    /// specification discourages them, since monitors cannot audit them.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text of the checkpoint, ending in a newline.
    ///
    /// Only text of a checkpoint that passes [`Checkpoint::check`] reads
    /// back as the same checkpoint; [`Checkpoint::to_note`] checks first.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        );
        for extension in &self.extensions {
            text.push_str(extension);
            text.push('\n');
        }
        text
    }

    /// Checks that the origin and extension lines are single non-empty
    /// lines without control characters, so that [`Checkpoint::to_text`]
    /// reads back as this checkpoint.
    ///
    /// # Errors
    ///
    /// The first bad line, numbered as in the text.
    pub fn check(&self) -> Result<(), NoteError> {
        check_line(&self.origin, 1, "origin")?;
        for (i, extension) in self.extensions.iter().enumerate() {
            check_line(extension, 4 + i, "extension")?;
        }
        Ok(())
    }

    /// An unsigned note of the checkpoint, ready for [`Note::sign`] and
    /// [`Note::cosign`].
    ///
    /// # Errors
    ///
    /// As [`Checkpoint::check`], and [`NoteError::TooLarge`].
    pub fn to_note(&self) -> Result<Note, NoteError> {
        self.check()?;
        Note::new(self.to_text())
    }

    /// Parses the text of a checkpoint note, such as the
    /// [`Note::text`] of a note that verified.
    ///
    /// # Errors
    ///
    /// The first problem found, with its line.
    pub fn parse_text(text: &str) -> Result<Self, NoteError> {
        check_size(text.len())?;
        check_chars(text)?;
        let body = text
            .strip_suffix('\n')
            .ok_or(NoteError::MissingFinalNewline {
                what: "checkpoint text",
            })?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(NoteError::CheckpointEmptyLine {
                line: 1,
                what: "origin",
            });
        }
        let size = lines.next().ok_or(NoteError::CheckpointMissingLine {
            line: 2,
            what: "tree size",
        })?;
        let size = parse_size(size, 2)?;
        let root = lines.next().ok_or(NoteError::CheckpointMissingLine {
            line: 3,
            what: "root hash",
        })?;
        let root = parse_root(root, 3)?;
        let extensions = lines
            .enumerate()
            .map(|(i, line)| {
                if line.is_empty() {
                    Err(NoteError::CheckpointEmptyLine {
                        line: 4 + i,
                        what: "extension",
                    })
                } else {
                    Ok(line.to_owned())
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// Checks a free-form line of a checkpoint being written.
fn check_line(value: &str, line: usize, what: &'static str) -> Result<(), NoteError> {
    if value.is_empty() {
        return Err(NoteError::CheckpointEmptyLine { line, what });
    }
    match value.bytes().position(|b| b < 0x20) {
        None => Ok(()),
        Some(i) if value.as_bytes()[i] == b'\n' => {
            Err(NoteError::CheckpointLineBreak { line, what })
        }
        Some(i) => Err(NoteError::ControlCharacter {
            line,
            column: value[..i].chars().count() + 1,
            code: value.as_bytes()[i],
        }),
    }
}

/// Parses the tree size line: ASCII digits, no leading zero but for "0".
fn parse_size(value: &str, line: usize) -> Result<u64, NoteError> {
    if value.is_empty() {
        return Err(NoteError::CheckpointEmptyLine {
            line,
            what: "tree size",
        });
    }
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NoteError::TreeSizeNotDecimal {
            line,
            value: snippet(value),
        });
    }
    if value.len() > 1 && value.starts_with('0') {
        return Err(NoteError::TreeSizeLeadingZero {
            line,
            value: snippet(value),
        });
    }
    value.parse().map_err(|_| NoteError::TreeSizeOverflow {
        line,
        value: snippet(value),
    })
}

/// Parses the root hash line: canonical base64 of exactly 32 bytes.
fn parse_root(value: &str, line: usize) -> Result<[u8; 32], NoteError> {
    if value.is_empty() {
        return Err(NoteError::CheckpointEmptyLine {
            line,
            what: "root hash",
        });
    }
    let bytes = BASE64
        .decode(value)
        .map_err(|_| NoteError::RootHashBase64 { line })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| NoteError::RootHashLength {
        line,
        len: bytes.len(),
    })
}
