//! A state-machine test: random command sequences run against an independent reference model of
//! the lifecycle and against the real repository (domain `decide` + `save_order`), which must
//! agree after every step on status, held-from status, version and the number of stored events.

use chrono::Utc;
use domain::lifecycle::decide;
use domain::lifecycle::{OrderCommand, OrderStatus as S};
use domain::order::{Confirmation, ConfirmationChannel};
use domain::ports::{OrderRepository, RepoError};
use domain::review::{Finding, Severity};
use persistence::Store;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::fixtures::{Desk, actor, change, load};

backend_tests!(random_command_sequences_agree_with_the_reference_model);

/// One step: a command, who issues it, and whether it is sent with a stale version.
#[derive(Clone, Debug)]
struct Step {
    command: Cmd,
    by_manager: bool,
    stale: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    Submit(Option<Severity>),
    Approve,
    Reject,
    RequestRevision,
    Confirm,
    StartProduction,
    ReadyToShip,
    Ship { complete: bool },
    Deliver,
    Complete,
    Hold,
    Resume,
    Cancel,
}

const ALL: [Cmd; 17] = [
    Cmd::Submit(None),
    Cmd::Submit(Some(Severity::Info)),
    Cmd::Submit(Some(Severity::NeedsApproval)),
    Cmd::Submit(Some(Severity::Blocker)),
    Cmd::Approve,
    Cmd::Reject,
    Cmd::RequestRevision,
    Cmd::Confirm,
    Cmd::StartProduction,
    Cmd::ReadyToShip,
    Cmd::Ship { complete: false },
    Cmd::Ship { complete: true },
    Cmd::Deliver,
    Cmd::Complete,
    Cmd::Hold,
    Cmd::Resume,
    Cmd::Cancel,
];

/// A step as generated: which command to pick, and whether to pick among the commands the model
/// accepts (so sequences get deep into the lifecycle) or among all of them (so refusals are
/// exercised too).
#[derive(Clone, Debug)]
struct Draw {
    pick: usize,
    guided: bool,
    by_manager: bool,
    stale: bool,
}

fn draws() -> impl Strategy<Value = Vec<Draw>> {
    let draw = (
        any::<usize>(),
        prop::bool::weighted(0.8),
        any::<bool>(),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(pick, guided, by_manager, stale)| Draw {
            pick,
            guided,
            by_manager,
            stale,
        });
    prop::collection::vec(draw, 1..30)
}

impl Draw {
    fn step(&self, model: &Model) -> Step {
        let step = |command| Step {
            command,
            by_manager: self.by_manager,
            stale: self.stale,
        };
        let accepted: Vec<Cmd> = ALL
            .into_iter()
            .filter(|c| model.next(&step(*c)).is_some())
            .collect();
        let candidates: &[Cmd] = if self.guided && !accepted.is_empty() {
            &accepted
        } else {
            &ALL
        };
        step(candidates[self.pick % candidates.len()])
    }
}

/// The reference model: DESIGN.md's lifecycle written out independently of `domain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Model {
    status: S,
    held_from: Option<S>,
    version: i64,
    events: usize,
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Refused,
    Conflict,
}

impl Model {
    /// Applies a step; returns what the real system must answer.
    fn step(&mut self, step: &Step) -> Outcome {
        let Some((to, events)) = self.next(step) else {
            return Outcome::Refused;
        };
        if step.stale {
            return Outcome::Conflict;
        }
        self.held_from = match to {
            S::OnHold => Some(self.status),
            _ => None,
        };
        self.status = to;
        self.version += 1;
        self.events += events;
        Outcome::Accepted
    }

    /// Target status and number of events, or `None` when the command must be refused.
    fn next(&self, step: &Step) -> Option<(S, usize)> {
        let manager = step.by_manager;
        let from = self.status;
        let status_event = |to: S| Some((to, 1));
        match step.command {
            Cmd::Submit(worst) if matches!(from, S::Draft | S::NeedsRevision) => {
                let to = match worst {
                    Some(Severity::Blocker) => S::NeedsRevision,
                    Some(Severity::NeedsApproval) => S::PendingApproval,
                    Some(Severity::Info) | None => S::Approved,
                };
                Some((to, if to == from { 1 } else { 2 }))
            }
            Cmd::Approve if from == S::PendingApproval && manager => status_event(S::Approved),
            Cmd::Reject if from == S::PendingApproval && manager => status_event(S::NeedsRevision),
            Cmd::RequestRevision if from == S::Approved => status_event(S::NeedsRevision),
            Cmd::Confirm if from == S::Approved => Some((S::Confirmed, 2)),
            Cmd::StartProduction if from == S::Confirmed => status_event(S::InProduction),
            Cmd::ReadyToShip if matches!(from, S::Confirmed | S::InProduction) => {
                status_event(S::ReadyToShip)
            }
            Cmd::Ship { complete } if matches!(from, S::ReadyToShip | S::PartiallyShipped) => {
                let to = if complete {
                    S::Shipped
                } else {
                    S::PartiallyShipped
                };
                if to == from { None } else { status_event(to) }
            }
            Cmd::Deliver if from == S::Shipped => status_event(S::Delivered),
            Cmd::Hold
                if matches!(
                    from,
                    S::Confirmed
                        | S::InProduction
                        | S::ReadyToShip
                        | S::PartiallyShipped
                        | S::Shipped
                ) =>
            {
                status_event(S::OnHold)
            }
            Cmd::Resume if from == S::OnHold => self.held_from.and_then(status_event),
            Cmd::Cancel => {
                let pre_confirmation = matches!(
                    from,
                    S::Draft | S::NeedsRevision | S::PendingApproval | S::Approved
                );
                let confirmed_cancellable =
                    matches!(from, S::Confirmed | S::InProduction | S::ReadyToShip)
                        || (from == S::OnHold
                            && matches!(
                                self.held_from,
                                Some(S::Confirmed | S::InProduction | S::ReadyToShip)
                            ));
                if pre_confirmation || (confirmed_cancellable && manager) {
                    status_event(S::Cancelled)
                } else {
                    None
                }
            }
            // Complete needs payment, which this model never records; the rest are off-edge.
            _ => None,
        }
    }
}

fn command(cmd: Cmd) -> OrderCommand {
    match cmd {
        Cmd::Submit(worst) => OrderCommand::Submit {
            findings: worst
                .map(|severity| Finding {
                    code: "X".into(),
                    severity,
                    message: "x".into(),
                    line_no: None,
                })
                .into_iter()
                .collect(),
        },
        Cmd::Approve => OrderCommand::Approve { comment: None },
        Cmd::Reject => OrderCommand::Reject {
            comment: "no".into(),
        },
        Cmd::RequestRevision => OrderCommand::RequestRevision {
            reason: "customer asked".into(),
        },
        Cmd::Confirm => OrderCommand::Confirm(Confirmation {
            confirmed_by: "Ms Buyer".into(),
            channel: ConfirmationChannel::Phone,
            reference: None,
            confirmed_at: Utc::now(),
            promised_date: None,
        }),
        Cmd::StartProduction => OrderCommand::StartProduction,
        Cmd::ReadyToShip => OrderCommand::MarkReadyToShip,
        Cmd::Ship { complete } => OrderCommand::Ship { complete },
        Cmd::Deliver => OrderCommand::Deliver,
        Cmd::Complete => OrderCommand::Complete,
        Cmd::Hold => OrderCommand::Hold {
            reason: "waiting".into(),
        },
        Cmd::Resume => OrderCommand::Resume,
        Cmd::Cancel => OrderCommand::Cancel {
            reason: "withdrawn".into(),
        },
    }
}

async fn run_case(store: &Store, desk: &Desk, draws: &[Draw]) -> Result<(), TestCaseError> {
    let created = store
        .create_order(desk.draft(Utc::now()), desk.rep.id, None)
        .await
        .unwrap();
    let id = created.order.id;
    let mut model = Model {
        status: S::Draft,
        held_from: None,
        version: 1,
        events: 1,
    };
    for (n, draw) in draws.iter().enumerate() {
        let step = &draw.step(&model);
        let expected = model.step(step);
        let by = if step.by_manager {
            &desk.manager
        } else {
            &desk.rep
        };
        let order = load(store, id).await;
        let actual = match decide(&order, command(step.command), &actor(by), Utc::now()) {
            Err(_) => Outcome::Refused,
            Ok(decision) => {
                let expected_version = if step.stale {
                    order.version - 1
                } else {
                    order.version
                };
                match store
                    .save_order(change(&decision, expected_version, by.id, Utc::now()))
                    .await
                {
                    Ok(_) => Outcome::Accepted,
                    Err(RepoError::Conflict { .. }) => Outcome::Conflict,
                    Err(other) => panic!("step {n}: {other}"),
                }
            }
        };
        prop_assert_eq!(
            &actual,
            &expected,
            "step {}: {:?} on {:?}",
            n,
            step,
            order.status
        );
        let stored = load(store, id).await;
        let events = store.order_events(id).await.unwrap();
        prop_assert_eq!(
            (
                stored.status,
                stored.held_from,
                stored.version,
                events.len()
            ),
            (model.status, model.held_from, model.version, model.events),
            "after step {}: {:?}",
            n,
            step
        );
        prop_assert_eq!(events.last().map(|e| e.order_version), Some(stored.version));
    }
    Ok(())
}

async fn random_command_sequences_agree_with_the_reference_model(store: Store) {
    let desk = Desk::set_up(&store).await;
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::block_in_place(|| {
        runner.run(&draws(), |draws| {
            handle.block_on(run_case(&store, &desk, &draws))
        })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
