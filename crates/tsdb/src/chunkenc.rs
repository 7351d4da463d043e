//! chunkenc (to be written)
