//! The API served per core: `server.worker_threads` threads, each with its own
//! current-thread tokio runtime, its own listener on the API address (`SO_REUSEPORT`: the
//! kernel spreads new connections over them) and its own upstream pool ([`PerCore`]). A
//! connection, its requests and their upstream exchanges stay on the thread that accepted
//! it: no task is handed to another thread and no other thread is woken per request.
//!
//! What is not per request (the admin listener, signals, reloads, the Redis connection's
//! driver) runs on the runtime that started the shim.

use std::future::Future;
use std::net::SocketAddr;
use tokio::sync::oneshot;

/// Cores serving the API for `server.worker_threads`: that many, or one per CPU when 0.
pub fn count(worker_threads: usize) -> usize {
    match worker_threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}

/// One value per core; never empty (core 0 always has one).
#[derive(Debug)]
pub struct PerCore<T> {
    first: T,
    rest: Vec<T>,
}

impl<T> PerCore<T> {
    /// `make(core)` for each of `cores` cores (at least one); the first error stops.
    pub fn build<E>(
        cores: usize,
        mut make: impl FnMut(usize) -> Result<T, E>,
    ) -> Result<PerCore<T>, E> {
        let first = make(0)?;
        let rest = (1..cores).map(make).collect::<Result<_, _>>()?;
        Ok(PerCore { first, rest })
    }

    /// `make(core)` for each of `cores` cores (at least one).
    pub fn from_fn(cores: usize, mut make: impl FnMut(usize) -> T) -> PerCore<T> {
        PerCore {
            first: make(0),
            rest: (1..cores).map(make).collect(),
        }
    }

    /// The value of `core`; core 0's for a core out of range.
    pub fn get(&self, core: usize) -> &T {
        core.checked_sub(1)
            .and_then(|i| self.rest.get(i))
            .unwrap_or(&self.first)
    }

    /// How many cores have a value.
    pub fn len(&self) -> usize {
        1 + self.rest.len()
    }

    /// Never: there is always core 0's value (for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// `cores` listening sockets on `addr` (on its port once bound, when `addr` asks for
/// port 0). With more than one, each has `SO_REUSEPORT`, so they share the port; one alone
/// does not, so a second process cannot bind the address beside it unnoticed.
pub fn bind(addr: SocketAddr, cores: usize) -> std::io::Result<Vec<std::net::TcpListener>> {
    let first = listen(addr, cores > 1)?;
    let bound = first.local_addr()?;
    let mut all = vec![first];
    for _ in 1..cores {
        all.push(listen(bound, true)?);
    }
    Ok(all)
}

/// One non-blocking listening socket, with the backlog tokio's `TcpListener::bind` uses.
fn listen(addr: SocketAddr, share_port: bool) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    #[cfg(unix)]
    {
        socket.set_reuse_address(true)?;
        if share_port {
            socket.set_reuse_port(true)?;
        }
    }
    #[cfg(not(unix))]
    if share_port {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "more than one core needs SO_REUSEPORT (unix): set server.worker_threads = 1",
        ));
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// The serving threads, one per listener; [`Cores::join`] waits for all of them.
#[derive(Debug)]
pub struct Cores {
    done: Vec<oneshot::Receiver<bool>>,
}

impl Cores {
    /// Starts one thread per listener, `shim-core-<n>` (a thread name holds 15 bytes),
    /// each running `serve(core, listener)` to its end on its own current-thread runtime.
    /// Every runtime is built before any thread starts; fails when one cannot be, or when
    /// a thread cannot be started (those already started stop with the caller's shutdown
    /// signal).
    pub fn spawn<F, Fut>(listeners: Vec<std::net::TcpListener>, serve: F) -> Result<Cores, String>
    where
        F: Fn(usize, tokio::net::TcpListener) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = bool>,
    {
        let runtimes = listeners
            .iter()
            .map(|_| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start a serving runtime: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut done = Vec::with_capacity(listeners.len());
        for (core, (listener, rt)) in listeners.into_iter().zip(runtimes).enumerate() {
            let (tx, rx) = oneshot::channel();
            let serve = serve.clone();
            std::thread::Builder::new()
                .name(format!("shim-core-{core}"))
                .spawn(move || {
                    let drained = rt.block_on(async move {
                        match tokio::net::TcpListener::from_std(listener) {
                            Ok(l) => serve(core, l).await,
                            Err(e) => {
                                tracing::error!(core, error = %e, "cannot serve on this core");
                                false
                            }
                        }
                    });
                    let _ = tx.send(drained);
                })
                .map_err(|e| format!("cannot start a serving thread: {e}"))?;
            done.push(rx);
        }
        Ok(Cores { done })
    }

    /// Waits for every core to finish serving; whether all of them drained in time (a
    /// core whose thread ended without saying so did not).
    pub async fn join(self) -> bool {
        let mut all = true;
        for rx in self.done {
            all &= rx.await.unwrap_or(false);
        }
        all
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn per_core_values_fall_back_to_core_zero() {
        let v = PerCore::build(3, |core| Ok::<_, ()>(core * 10)).unwrap();
        assert_eq!((v.len(), *v.get(0), *v.get(1), *v.get(2)), (3, 0, 10, 20));
        assert_eq!(*v.get(7), 0);
        let one = PerCore::build(0, |core| Ok::<_, ()>(core + 1)).unwrap();
        assert_eq!((one.len(), *one.get(1)), (1, 1));
        assert_eq!(
            PerCore::build(2, |c| if c == 1 { Err(c) } else { Ok(c) }).unwrap_err(),
            1
        );
        let made = PerCore::from_fn(2, |core| core + 5);
        assert_eq!((made.len(), *made.get(0), *made.get(1)), (2, 5, 6));
    }

    #[test]
    fn cores_share_one_port_and_one_alone_holds_it() {
        let shared = bind("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        let port = shared[0].local_addr().unwrap().port();
        assert_ne!(port, 0);
        assert!(
            shared
                .iter()
                .all(|l| l.local_addr().unwrap().port() == port)
        );

        let alone = bind("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        let taken = alone[0].local_addr().unwrap();
        assert!(
            bind(taken, 1).is_err(),
            "a second bind of a single core's port must fail"
        );
        assert!(bind(taken, 2).is_err(), "nor may a shared group join it");
    }

    #[test]
    fn zero_worker_threads_is_one_per_cpu() {
        assert!(count(0) >= 1);
        assert_eq!(count(3), 3);
    }
}
