//! Where a stream's media comes from: a publisher (push), a file, a folder of files.
//! Pushes need no code of their own here (the protocol sessions write into the hub);
//! files are read by [`file`], and names are mapped to files by [`folder`].

pub mod file;
pub mod folder;
