//! Jobs the shim started, remembered for the legacy status fields v3 lacks
//! (`bk_job_id`, `operator`, `start_way`; DESIGN §4.5).
//!
//! A bounded in-process map (oldest entry evicted first, entries expire after
//! `legacy.job_cache_ttl`), plus Redis when the Redis rate-limit backend is on, so that a
//! job started through one replica can be polled through another. Redis errors are never
//! fatal: the status call falls back to `get_job_instance_list`.

use crate::translate::status::JobExtras;
use redis::AsyncCommands;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// Time allowed for one Redis operation.
const REDIS_TIMEOUT: Duration = Duration::from_millis(300);

/// Bounded, expiring memory of started jobs.
pub struct JobCache {
    local: Mutex<Local>,
    ttl: Duration,
    redis: Option<RedisStore>,
}

struct Local {
    capacity: usize,
    map: HashMap<i64, (Instant, JobExtras)>,
    order: VecDeque<i64>,
}

struct RedisStore {
    client: redis::Client,
    conn: OnceCell<redis::aio::ConnectionManager>,
}

impl JobCache {
    /// A cache of at most `capacity` jobs kept `ttl`; shared through Redis at `redis_url`
    /// when given.
    pub fn new(capacity: usize, ttl: Duration, redis_url: Option<&str>) -> JobCache {
        let redis = redis_url
            .and_then(|u| redis::Client::open(u).ok())
            .map(|client| RedisStore {
                client,
                conn: OnceCell::new(),
            });
        JobCache {
            local: Mutex::new(Local {
                capacity: capacity.max(1),
                map: HashMap::new(),
                order: VecDeque::new(),
            }),
            ttl,
            redis,
        }
    }

    /// Number of jobs held in process.
    pub fn len(&self) -> usize {
        self.local.lock().map(|l| l.map.len()).unwrap_or(0)
    }

    /// True when nothing is held in process.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Remember `job_instance_id`.
    pub async fn put(&self, job_instance_id: i64, extras: JobExtras) {
        if let Ok(mut l) = self.local.lock() {
            if l.map
                .insert(job_instance_id, (Instant::now(), extras.clone()))
                .is_none()
            {
                l.order.push_back(job_instance_id);
            }
            while l.map.len() > l.capacity {
                match l.order.pop_front() {
                    Some(old) => {
                        l.map.remove(&old);
                    }
                    None => break,
                }
            }
        }
        if let (Some(r), Ok(json)) = (&self.redis, serde_json::to_string(&extras)) {
            let ttl = self.ttl.as_secs().max(1);
            let res = tokio::time::timeout(REDIS_TIMEOUT, async {
                let mut c = r.conn().await?;
                c.set_ex::<_, _, ()>(key(job_instance_id), json, ttl).await
            })
            .await;
            if !matches!(res, Ok(Ok(()))) {
                tracing::warn!(job_instance_id, "job cache: Redis write failed");
            }
        }
    }

    /// Look `job_instance_id` up: in process first, then Redis.
    pub async fn get(&self, job_instance_id: i64) -> Option<JobExtras> {
        if let Ok(mut l) = self.local.lock() {
            match l.map.get(&job_instance_id) {
                Some((at, e)) if at.elapsed() <= self.ttl => return Some(e.clone()),
                Some(_) => {
                    l.map.remove(&job_instance_id);
                }
                None => {}
            }
        }
        let r = self.redis.as_ref()?;
        let res = tokio::time::timeout(REDIS_TIMEOUT, async {
            let mut c = r.conn().await?;
            c.get::<_, Option<String>>(key(job_instance_id)).await
        })
        .await;
        match res {
            Ok(Ok(Some(json))) => serde_json::from_str(&json).ok(),
            Ok(Ok(None)) => None,
            _ => {
                tracing::warn!(job_instance_id, "job cache: Redis read failed");
                None
            }
        }
    }
}

impl RedisStore {
    async fn conn(&self) -> redis::RedisResult<redis::aio::ConnectionManager> {
        self.conn
            .get_or_try_init(|| redis::aio::ConnectionManager::new(self.client.clone()))
            .await
            .cloned()
    }
}

fn key(job_instance_id: i64) -> String {
    format!("bk-job-shim:job:{job_instance_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn extras(id: i64) -> JobExtras {
        JobExtras {
            bk_job_id: Some(id),
            ..JobExtras::default()
        }
    }

    #[tokio::test]
    async fn bounded_oldest_first() {
        let c = JobCache::new(3, Duration::from_secs(60), None);
        for i in 0..10 {
            c.put(i, extras(i)).await;
        }
        assert_eq!(c.len(), 3);
        assert!(c.get(6).await.is_none());
        assert_eq!(c.get(9).await.and_then(|e| e.bk_job_id), Some(9));
    }

    #[tokio::test]
    async fn entries_expire() {
        let c = JobCache::new(3, Duration::from_millis(1), None);
        c.put(1, extras(1)).await;
        std::thread::sleep(Duration::from_millis(5));
        assert!(c.get(1).await.is_none());
        assert!(c.is_empty());
    }
}
