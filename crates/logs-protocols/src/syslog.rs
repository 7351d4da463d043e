//! syslog (in progress).
