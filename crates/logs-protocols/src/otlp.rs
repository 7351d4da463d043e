//! otlp (in progress).
