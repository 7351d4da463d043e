//! exposition (to be written)
