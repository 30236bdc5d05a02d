//! The link to the broker: two threads around one rumqttc client, and the delivery book.
//!
//! - The *feeder* takes messages from the sink's bounded queue and hands them to the client
//!   while connected, at most [`WINDOW`] QoS-1 messages unacknowledged at a time.
//! - The *connection* thread drives rumqttc's event loop: connects (and reconnects, with a
//!   backoff from 0.25 s doubling to 5 s), assigns packet ids to the messages sent, in order,
//!   and strikes them off when the broker acknowledges them.
//!
//! rumqttc forgets unacknowledged publishes when a new session starts (a broker restarted
//! without persistence), so the book is ours: on a lost connection every message sent and not
//! acknowledged goes back to the front of the backlog and is sent again after the reconnect
//! (QoS 1: at least once). The availability topic is retained: `online` after each connect,
//! `offline` on a clean stop, and the same `offline` as the last will when the link dies.

use rumqttc::{Client, Event, LastWill, MqttOptions, Outgoing, Packet, QoS};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// QoS-1 messages unacknowledged at a time.
pub const WINDOW: usize = 32;

/// One message for the broker.
#[derive(Debug, Clone)]
pub struct Msg {
    pub topic: String,
    pub payload: Vec<u8>,
    /// QoS 1, tracked until acknowledged; else QoS 0, dropped while disconnected.
    pub reliable: bool,
    pub retain: bool,
    /// When its frame left the source (for the publish latency).
    pub captured: Option<Instant>,
}

/// Where to connect, as whom.
#[derive(Clone)]
pub struct LinkOptions {
    pub host: String,
    pub port: u16,
    pub client_id: String,
    pub credentials: Option<(String, String)>,
    pub keep_alive: Duration,
    pub availability_topic: String,
}

/// What the link reports to the sink's metrics.
pub trait LinkEvents: Send + Sync {
    fn connected(&self, up: bool);
    /// A QoS-1 message acknowledged, `latency` after its frame left the source.
    fn delivered(&self, latency: Option<Duration>);
}

struct Sent {
    msg: Msg,
    pkid: Option<u16>,
}

#[derive(Default)]
struct Book {
    connected: bool,
    stop: bool,
    backlog: VecDeque<Msg>,
    sent: VecDeque<Sent>,
}

struct Shared {
    book: Mutex<Book>,
    changed: Condvar,
}

pub struct Link {
    shared: Arc<Shared>,
    client: Client,
    feeder: Option<std::thread::JoinHandle<()>>,
    connection: Option<std::thread::JoinHandle<()>>,
    availability: String,
    broker: String,
    /// The sink's queue, to count what never left it.
    queue: crossbeam_channel::Receiver<Msg>,
}

impl Link {
    /// Starts both threads; `rx` is the sink's queue (closed when the sink finishes).
    pub fn start(
        o: &LinkOptions,
        rx: crossbeam_channel::Receiver<Msg>,
        events: Arc<dyn LinkEvents>,
    ) -> std::io::Result<Link> {
        let mut opts = MqttOptions::new(&o.client_id, &o.host, o.port);
        opts.set_keep_alive(o.keep_alive);
        opts.set_clean_session(true);
        opts.set_last_will(LastWill::new(
            &o.availability_topic,
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
        if let Some((u, p)) = &o.credentials {
            opts.set_credentials(u, p);
        }
        // Room for the window and the status messages beside it; the queue is the sink's.
        let (client, mut connection) = Client::new(opts, WINDOW * 2);
        let shared = Arc::new(Shared {
            book: Mutex::new(Book::default()),
            changed: Condvar::new(),
        });
        let broker = format!("{}:{}", o.host, o.port);
        let conn = {
            let shared = shared.clone();
            let events = events.clone();
            let broker = broker.clone();
            let online = Msg {
                topic: o.availability_topic.clone(),
                payload: b"online".to_vec(),
                reliable: true,
                retain: true,
                captured: None,
            };
            std::thread::Builder::new()
                .name("mqtt-conn".into())
                .spawn(move || {
                    let mut backoff = Duration::from_millis(250);
                    let mut down_since: Option<Instant> = None;
                    for ev in connection.iter() {
                        let mut b = shared.book.lock().expect("mqtt book");
                        match ev {
                            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                                b.connected = true;
                                backoff = Duration::from_millis(250);
                                b.backlog.push_front(online.clone());
                                events.connected(true);
                                match down_since.take() {
                                    Some(t) => tracing::info!(broker = %broker, after_s = t.elapsed().as_secs_f64(), resent = b.backlog.len() - 1, "MQTT broker reachable again"),
                                    None => tracing::info!(broker = %broker, "MQTT connected"),
                                }
                                shared.changed.notify_all();
                            }
                            Ok(Event::Outgoing(Outgoing::Publish(pkid))) if pkid != 0 => {
                                if let Some(s) = b.sent.iter_mut().find(|s| s.pkid.is_none()) {
                                    s.pkid = Some(pkid);
                                }
                            }
                            Ok(Event::Incoming(Packet::PubAck(a))) => {
                                if let Some(i) = b.sent.iter().position(|s| s.pkid == Some(a.pkid)) {
                                    let s = b.sent.remove(i).expect("found");
                                    events.delivered(s.msg.captured.map(|c| c.elapsed()));
                                    shared.changed.notify_all();
                                }
                            }
                            Ok(_) => {}
                            Err(e) => {
                                if b.stop {
                                    break;
                                }
                                if b.connected || down_since.is_none() {
                                    // rumqttc's errors name the socket's failure, never the credentials.
                                    tracing::warn!(broker = %broker, error = %e, "MQTT broker unreachable; events wait in the queue and go when it is back (retrying with backoff)");
                                    down_since.get_or_insert_with(Instant::now);
                                }
                                b.connected = false;
                                events.connected(false);
                                // Everything sent and not acknowledged goes again, in order.
                                let back: Vec<Msg> = b.sent.drain(..).map(|s| s.msg).collect();
                                for m in back.into_iter().rev().filter(|m| m.reliable) {
                                    b.backlog.push_front(m);
                                }
                                drop(b);
                                std::thread::sleep(backoff);
                                backoff = (backoff * 2).min(Duration::from_secs(5));
                                if shared.book.lock().expect("mqtt book").stop {
                                    break;
                                }
                            }
                        }
                    }
                })?
        };
        let feeder = {
            let shared = shared.clone();
            let client = client.clone();
            let rx = rx.clone();
            std::thread::Builder::new()
                .name("mqtt-feed".into())
                .spawn(move || feed(&shared, &client, &rx))?
        };
        Ok(Link {
            shared,
            client,
            feeder: Some(feeder),
            connection: Some(conn),
            availability: o.availability_topic.clone(),
            broker,
            queue: rx,
        })
    }

    /// Waits up to `timeout` for the queue to drain and every message to be acknowledged
    /// (the sink has dropped its sender), then says `offline` and disconnects. Returns the
    /// messages left undelivered.
    pub fn close(mut self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        if let Some(f) = self.feeder.take() {
            // The feeder ends once the queue is closed, empty and acknowledged, or when stopped.
            while !f.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            self.shared.book.lock().expect("mqtt book").stop = true;
            self.shared.changed.notify_all();
            let _ = f.join();
        }
        let left = {
            let b = self.shared.book.lock().expect("mqtt book");
            b.backlog.iter().filter(|m| m.reliable).count() + b.sent.len() + self.queue.len()
        };
        if left == 0 {
            let _ = self
                .client
                .try_publish(&self.availability, QoS::AtLeastOnce, true, "offline");
            // Let the event loop write it before the disconnect.
            std::thread::sleep(Duration::from_millis(50));
        } else {
            tracing::warn!(broker = %self.broker, undelivered = left, "MQTT: stopping with events the broker never acknowledged");
        }
        let _ = self.client.try_disconnect();
        if let Some(c) = self.connection.take() {
            let _ = c.join();
        }
        left
    }
}

/// Hands queued messages to the client while connected, the window allowing; ends when the
/// queue is closed and everything is acknowledged, or when told to stop. It waits for the
/// connection and the window before it takes the next message, so that after a reconnect the
/// `online` notice and the messages sent again go first, in order.
fn feed(shared: &Shared, client: &Client, rx: &crossbeam_channel::Receiver<Msg>) {
    let mut closed = false;
    loop {
        let mut b = shared.book.lock().expect("mqtt book");
        if b.stop || closed && b.sent.is_empty() && b.backlog.is_empty() {
            return;
        }
        if !(b.connected && b.sent.len() < WINDOW) {
            let _ = shared
                .changed
                .wait_timeout(b, Duration::from_millis(50))
                .expect("mqtt book");
            continue;
        }
        let m = match b.backlog.pop_front() {
            Some(m) => m,
            None if closed => {
                let _ = shared
                    .changed
                    .wait_timeout(b, Duration::from_millis(50))
                    .expect("mqtt book");
                continue;
            }
            None => {
                drop(b);
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(m) => {
                        b = shared.book.lock().expect("mqtt book");
                        if !b.backlog.is_empty() {
                            // A reconnect came meanwhile: what it queued goes first.
                            b.backlog.push_back(m);
                            continue;
                        }
                        m
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => continue,
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                        closed = true;
                        continue;
                    }
                }
            }
        };
        if !m.reliable {
            // Status: only while connected, never waited for.
            if b.connected {
                let _ = client.try_publish(&m.topic, QoS::AtMostOnce, m.retain, m.payload);
            }
            continue;
        }
        if !b.connected {
            b.backlog.push_front(m);
            continue;
        }
        match client.try_publish(&m.topic, QoS::AtLeastOnce, m.retain, m.payload.clone()) {
            Ok(()) => b.sent.push_back(Sent { msg: m, pkid: None }),
            // The client's channel is full (the event loop is behind): try again shortly.
            Err(_) => {
                b.backlog.push_front(m);
                drop(b);
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}
