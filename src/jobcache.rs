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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// Time allowed for one Redis operation.
const REDIS_TIMEOUT: Duration = Duration::from_millis(300);

/// Bounded, expiring memory of started jobs.
pub struct JobCache {
    local: Mutex<Local>,
    ttl: Duration,
    redis: Option<Arc<RedisStore>>,
}

/// Insertion-ordered map. `order` holds `(id, seq)`; an entry whose `seq` no longer matches
/// the map's is stale (the id was removed or re-inserted) and is skipped on eviction.
struct Local {
    capacity: usize,
    next_seq: u64,
    map: HashMap<i64, Entry>,
    order: VecDeque<(i64, u64)>,
}

struct Entry {
    at: Instant,
    seq: u64,
    extras: JobExtras,
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
            .map(|client| {
                Arc::new(RedisStore {
                    client,
                    conn: OnceCell::new(),
                })
            });
        JobCache {
            local: Mutex::new(Local {
                capacity: capacity.max(1),
                next_seq: 0,
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

    /// Remember `job_instance_id`. The Redis write runs in the background: a reply never
    /// waits for it.
    pub fn put(&self, job_instance_id: i64, extras: JobExtras) {
        if let Ok(mut l) = self.local.lock() {
            l.insert(job_instance_id, extras.clone());
        }
        let (Some(r), Ok(json)) = (self.redis.clone(), serde_json::to_string(&extras)) else {
            return;
        };
        let ttl = self.ttl.as_secs().max(1);
        tokio::spawn(async move {
            let res = tokio::time::timeout(REDIS_TIMEOUT, async {
                let mut c = r.conn().await?;
                c.set_ex::<_, _, ()>(key(job_instance_id), json, ttl).await
            })
            .await;
            if !matches!(res, Ok(Ok(()))) {
                tracing::warn!(job_instance_id, "job cache: Redis write failed");
            }
        });
    }

    /// Look `job_instance_id` up: in process first, then Redis.
    pub async fn get(&self, job_instance_id: i64) -> Option<JobExtras> {
        if let Ok(mut l) = self.local.lock() {
            match l.map.get(&job_instance_id) {
                Some(e) if e.at.elapsed() <= self.ttl => return Some(e.extras.clone()),
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

impl Local {
    fn insert(&mut self, id: i64, extras: JobExtras) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.map.insert(
            id,
            Entry {
                at: Instant::now(),
                seq,
                extras,
            },
        );
        self.order.push_back((id, seq));
        while self.map.len() > self.capacity {
            let Some((old, old_seq)) = self.order.pop_front() else {
                break;
            };
            if self.map.get(&old).is_some_and(|e| e.seq == old_seq) {
                self.map.remove(&old);
            }
        }
        // Stale order entries (re-inserted or expired ids) must not pile up.
        if self.order.len() > 2 * self.capacity {
            let map = &self.map;
            self.order
                .retain(|(id, seq)| map.get(id).is_some_and(|e| e.seq == *seq));
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
            c.put(i, extras(i));
        }
        assert_eq!(c.len(), 3);
        assert!(c.get(6).await.is_none());
        assert_eq!(c.get(9).await.and_then(|e| e.bk_job_id), Some(9));
    }

    #[tokio::test]
    async fn entries_expire() {
        let c = JobCache::new(3, Duration::from_millis(1), None);
        c.put(1, extras(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(c.get(1).await.is_none());
        assert!(c.is_empty());
    }

    #[tokio::test]
    async fn reinserted_ids_are_not_evicted_by_stale_entries() {
        let c = JobCache::new(2, Duration::from_secs(60), None);
        c.put(1, extras(1));
        c.put(2, extras(2));
        c.put(1, extras(11)); // re-insert: the first (1) entry in the order is stale now
        c.put(3, extras(3)); // evicts 2, the oldest live entry, not the fresh 1
        assert_eq!(c.get(1).await.and_then(|e| e.bk_job_id), Some(11));
        assert!(c.get(2).await.is_none());
        assert_eq!(c.get(3).await.and_then(|e| e.bk_job_id), Some(3));
        for i in 0..1000 {
            c.put(7, extras(i));
        }
        assert!(c.local.lock().map(|l| l.order.len()).unwrap_or(0) <= 4);
    }
}
