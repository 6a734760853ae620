//! Publishing Events with kube's Recorder, with its memory bounded.
//!
//! The Recorder folds a repeated Event (same object, reason and action) into
//! a series, and to do so keeps every Event it published for six minutes,
//! pruned only when it publishes again. After a burst — 10,000 rollouts are
//! 20,000 Events — that cache stayed whole while the operator was idle
//! (about 50 MiB in `make bench`), and every publish scanned it. `Events`
//! replaces the Recorder with a fresh one (an empty cache) every
//! [`FOLD_WINDOW`], from a timer, so idle time releases it too. A repeat
//! within the window still folds; one after it starts a new Event.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, Recorder, Reporter};

/// How long a repeated Event folds into the previous one.
pub const FOLD_WINDOW: Duration = Duration::from_secs(60);

/// A Recorder renewed every [`FOLD_WINDOW`].
pub struct Events {
    current: Arc<Mutex<Recorder>>,
}

impl Events {
    /// Starts the renewal timer; it ends when `Events` is dropped.
    pub fn start(client: Client, reporter: Reporter) -> Self {
        let current = Arc::new(Mutex::new(Recorder::new(client.clone(), reporter.clone())));
        tokio::spawn(renew(Arc::downgrade(&current), client, reporter));
        Self { current }
    }

    /// Publishes `event` about `regarding` (series folding within the window).
    pub async fn publish(&self, event: &Event, regarding: &ObjectReference) -> Result<(), kube::Error> {
        // Cloned out of the lock: a publish in flight keeps the Recorder it
        // started with while the timer swaps in a new one.
        let recorder = self.current.lock().unwrap_or_else(PoisonError::into_inner).clone();
        recorder.publish(event, regarding).await
    }
}

async fn renew(current: Weak<Mutex<Recorder>>, client: Client, reporter: Reporter) {
    let mut every = tokio::time::interval(FOLD_WINDOW);
    every.tick().await; // the first tick is immediate
    loop {
        every.tick().await;
        let Some(current) = current.upgrade() else { return };
        let fresh = Recorder::new(client.clone(), reporter.clone());
        *current.lock().unwrap_or_else(PoisonError::into_inner) = fresh;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::events::EventType;
    use std::sync::Mutex as StdMutex;

    /// A client whose API server answers every request with an Event and
    /// records the request methods.
    fn recording_client() -> (Client, Arc<StdMutex<Vec<String>>>) {
        let seen = Arc::new(StdMutex::new(Vec::new()));
        let log = seen.clone();
        let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
            if let Ok(mut log) = log.lock() {
                log.push(req.method().to_string());
            }
            let body = br#"{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"e","namespace":"ns"},"eventTime":null}"#;
            async move {
                http::Response::builder()
                    .status(201)
                    .body(kube::client::Body::from(body.to_vec()))
            }
        });
        (Client::new(service, "ns"), seen)
    }

    fn event() -> Event {
        Event {
            type_: EventType::Normal,
            reason: "DeploymentCreated".into(),
            note: Some("created deployment d-1".into()),
            action: "Deploy".into(),
            secondary: None,
        }
    }

    fn regarding() -> ObjectReference {
        ObjectReference {
            kind: Some("CrossAccountDeployment".into()),
            namespace: Some("ns".into()),
            name: Some("web".into()),
            uid: Some("u1".into()),
            ..Default::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_repeat_folds_within_the_window_and_starts_anew_after_it() {
        let (client, seen) = recording_client();
        let reporter = Reporter {
            controller: "crossdeploy".into(),
            instance: None,
        };
        let events = Events::start(client, reporter);
        events.publish(&event(), &regarding()).await.unwrap();
        events.publish(&event(), &regarding()).await.unwrap();
        tokio::time::sleep(FOLD_WINDOW + Duration::from_secs(1)).await;
        events.publish(&event(), &regarding()).await.unwrap();
        let methods = seen.lock().unwrap().clone();
        // created, folded into its series, created again with an empty cache
        assert_eq!(methods, ["POST", "PATCH", "POST"]);
    }
}
