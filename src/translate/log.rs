//! v3 status + `batch_get_job_instance_ip_log` → legacy `get_job_instance_log` data.
