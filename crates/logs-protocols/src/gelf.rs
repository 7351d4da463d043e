//! gelf (in progress).
