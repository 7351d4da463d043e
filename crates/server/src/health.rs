//! Health endpoints: `/-/healthy` and `/-/ready` as Prometheus answers them,
//! and `/health` with each component's status (503 when any is degraded).

use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::path::PathBuf;

/// One component's state.
#[derive(Clone, Debug)]
pub struct ComponentHealth {
    pub name: String,
    pub healthy: bool,
    /// Figures and the reason when unhealthy.
    pub details: Value,
}

/// Something whose health `/health` reports.
pub trait HealthProbe: Send + Sync {
    fn check(&self) -> ComponentHealth;
}

/// Free space on the filesystem holding the data directory.
pub struct DiskProbe {
    pub path: PathBuf,
    /// Degraded below this many free bytes.
    pub min_free_bytes: u64,
}

impl HealthProbe for DiskProbe {
    fn check(&self) -> ComponentHealth {
        match disk_free(&self.path) {
            Ok((free, total)) => ComponentHealth {
                name: "disk".into(),
                healthy: free >= self.min_free_bytes,
                details: json!({
                    "path": self.path.display().to_string(),
                    "free_bytes": free,
                    "total_bytes": total,
                    "min_free_bytes": self.min_free_bytes,
                }),
            },
            Err(e) => ComponentHealth {
                name: "disk".into(),
                healthy: false,
                details: json!({"path": self.path.display().to_string(), "error": e.to_string()}),
            },
        }
    }
}

/// (free bytes available to us, total bytes) of the filesystem at `path`.
pub fn disk_free(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains NUL"))?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    Ok((st.f_bavail as u64 * frsize, st.f_blocks as u64 * frsize))
}

pub async fn healthy() -> &'static str {
    "Sightline is Healthy.\n"
}

pub async fn ready(State(st): State<AppState>) -> Response {
    if st.is_ready() {
        (StatusCode::OK, "Sightline is Ready.\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable\n").into_response()
    }
}

pub async fn health(State(st): State<AppState>) -> Response {
    let probes = st.probes.clone();
    let checks = tokio::task::spawn_blocking(move || probes.iter().map(|p| p.check()).collect::<Vec<_>>())
        .await
        .unwrap_or_default();
    let all_ok = st.is_ready() && checks.iter().all(|c| c.healthy);
    let mut components = serde_json::Map::new();
    for c in checks {
        let mut d = c.details;
        if let Value::Object(m) = &mut d {
            m.insert("status".into(), json!(if c.healthy { "ok" } else { "degraded" }));
        }
        components.insert(c.name, d);
    }
    let body = json!({
        "status": if all_ok { "ok" } else { "degraded" },
        "ready": st.is_ready(),
        "version": env!("CARGO_PKG_VERSION"),
        "components": components,
    });
    let code = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_probe_reports_space() {
        let p = DiskProbe {
            path: std::env::temp_dir(),
            min_free_bytes: 0,
        };
        let c = p.check();
        assert!(c.healthy);
        assert!(c.details["total_bytes"].as_u64().unwrap() > 0);
        let p = DiskProbe {
            path: std::env::temp_dir(),
            min_free_bytes: u64::MAX,
        };
        assert!(!p.check().healthy);
        let p = DiskProbe {
            path: "/nonexistent/x".into(),
            min_free_bytes: 0,
        };
        assert!(!p.check().healthy);
    }
}
