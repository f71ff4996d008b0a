//! 1:1 sends over each sender's own WebSocket (`send` frames), as the engine sends while it is
//! online: one frame per message, answered by a `sent` (or `send_failed`) frame naming its id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use sotto_proto::{ClientFrame, DeviceAddress, DevicePayload, MessageId, SendDirectRequest, ServerFrame, SocketSend};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::Message;

use crate::drive::Transport;
use crate::relay::{Api, Device, Ws};

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Result<(), String>>>>>;

/// One sender's socket: frames go out through a writer task, answers come back through a
/// reader task to whoever waits for that message id.
pub struct SenderSocket {
    out: mpsc::UnboundedSender<String>,
    waiting: Waiting,
    tasks: [JoinHandle<()>; 2],
}

impl SenderSocket {
    pub fn new(ws: Ws) -> SenderSocket {
        let (mut sink, mut stream) = ws.split();
        let (out, mut rx) = mpsc::unbounded_channel::<String>();
        let waiting: Waiting = Arc::default();
        let writer = tokio::spawn(async move {
            while let Some(text) = rx.recv().await {
                if sink.feed(Message::text(text)).await.is_err() {
                    return;
                }
                // What else is queued goes in the same write.
                while let Ok(text) = rx.try_recv() {
                    if sink.feed(Message::text(text)).await.is_err() {
                        return;
                    }
                }
                if sink.flush().await.is_err() {
                    return;
                }
            }
        });
        let answers = waiting.clone();
        let reader = tokio::spawn(async move {
            let answer = |id: &str, outcome: Result<(), String>| {
                let waiter = answers.lock().ok().and_then(|mut w| w.remove(id));
                if let Some(waiter) = waiter {
                    let _ = waiter.send(outcome);
                }
            };
            while let Some(Ok(msg)) = stream.next().await {
                let Message::Text(text) = msg else { continue };
                match serde_json::from_str::<ServerFrame>(text.as_str()) {
                    Ok(ServerFrame::Sent { receipt }) => answer(receipt.message_id.as_str(), Ok(())),
                    Ok(ServerFrame::SendFailed { message_id, status, error, .. }) => {
                        answer(message_id.as_str(), Err(format!("HTTP {status} {:?}: {}", error.code, error.message)))
                    }
                    Ok(ServerFrame::Error { code, message }) => {
                        // A refused frame names no message: fail everything waiting.
                        let failed: Vec<_> = answers.lock().map(|mut w| w.drain().collect()).unwrap_or_default();
                        for (_, waiter) in failed {
                            let _ = waiter.send(Err(format!("error frame {code:?}: {message}")));
                        }
                    }
                    _ => {}
                }
            }
            // The socket ended: nothing waiting will be answered.
            if let Ok(mut w) = answers.lock() {
                w.clear();
            }
        });
        SenderSocket { out, waiting, tasks: [writer, reader] }
    }

    /// Sends `send` (whose message id is `message_id`) in a frame of its own and waits for its
    /// answer.
    pub async fn send(&self, message_id: String, send: SocketSend) -> anyhow::Result<()> {
        let frame = serde_json::to_string(&ClientFrame::Send { sends: vec![send] })?;
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.insert(message_id, tx);
        self.out.send(frame).map_err(|_| anyhow::anyhow!("the sender's socket is gone"))?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(refused)) => bail!("send refused: {refused}"),
            Err(_) => bail!("the sender's socket ended before the answer"),
        }
    }

    pub async fn close(self) {
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

/// 1:1 sends over the senders' sockets, each connected to its sender's node.
pub struct SocketTransport {
    senders: Vec<SenderSocket>,
    recipients: Vec<DeviceAddress>,
}

impl SocketTransport {
    /// Connects every sender (`(node, device)`, node an index into `apis`).
    pub async fn connect(
        apis: &[Api],
        senders: &[(usize, Device)],
        recipients: Vec<DeviceAddress>,
        concurrency: usize,
    ) -> anyhow::Result<SocketTransport> {
        let connected: Vec<anyhow::Result<Ws>> = futures_util::stream::iter(senders.iter())
            .map(|(node, d)| {
                let api = apis.get(*node).cloned();
                async move { api.context("no such node")?.connect(d).await }
            })
            .buffered(concurrency)
            .collect()
            .await;
        let senders = connected.into_iter().map(|ws| ws.map(SenderSocket::new)).collect::<anyhow::Result<_>>()?;
        Ok(SocketTransport { senders, recipients })
    }

    pub async fn close(self) {
        for s in self.senders {
            s.close().await;
        }
    }
}

impl Transport for SocketTransport {
    const SPAWN: bool = true;

    async fn send(&self, pair: usize, seq: u64, payload: String) -> anyhow::Result<()> {
        let (Some(from), Some(to)) = (self.senders.get(pair), self.recipients.get(pair)) else {
            bail!("no pair {pair}");
        };
        let message_id = format!("m{pair:04}-{seq:014}");
        let request = SendDirectRequest {
            message_id: MessageId::parse(&message_id)?,
            payloads: vec![DevicePayload {
                user_id: to.user_id.clone(),
                device_id: to.device_id.clone(),
                ciphertext: payload,
            }],
        };
        from.send(message_id, SocketSend::Direct { request }).await.with_context(|| format!("sender {pair}"))
    }
}
