//! Where a stream's media comes from: a publisher (push), a file, a folder of files, a pull.
//! Pushes need no code of their own here (the protocol sessions write into the hub);
//! files are read by [`file`], names are mapped to files by [`folder`], and URL sources are
//! pulled by [`pull`].

pub mod file;
pub mod folder;
pub mod pull;
