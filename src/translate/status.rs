//! v3 `get_job_instance_status` data → legacy `get_job_instance_status` data.
