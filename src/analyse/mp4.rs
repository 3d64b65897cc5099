//! analyse for MP4 (stub).
use std::io::Write;
use super::{AnalyseError, Options, Report};
use crate::io::Source;
/// Analyses MP4.
pub fn analyse(src: Source, opts: &Options, out: &mut dyn Write) -> Result<Report, AnalyseError> {
    super::generic(&crate::formats::mp4::SPEC, src, opts, out)
}
