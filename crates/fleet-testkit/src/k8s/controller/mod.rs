//! The simulated control plane, one file per controller: the deployment controller, the
//! ReplicaSet controller, the StatefulSet controller, the Job and CronJob controllers, the
//! EndpointSlice and Endpoints controllers, the HorizontalPodAutoscaler controller, the garbage
//! collector, the kubelet stand-in, and the runner that runs Job pods as processes. They share nothing but
//! the store (through [`Cx`](cx::Cx)), and run as one loop: a pass after every change, and at the
//! next timed transition.

mod cronjob;
mod cx;
mod deployment;
mod endpoints;
mod gc;
mod hpa;
mod job;
mod kubelet;
mod pod_status;
mod process;
mod replicaset;
mod statefulset;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::k8s::shared::Shared;
use crate::k8s::util::uid_of;
use cx::Cx;
use endpoints::EndpointsControllers;
use hpa::Autoscaler;
use kubelet::Kubelet;
use process::ProcessRunner;

pub(crate) struct Controllers {
    cx: Cx,
    kubelet: Kubelet,
    endpoints: EndpointsControllers,
    autoscaler: Autoscaler,
    runner: ProcessRunner,
    progress_deadline: Option<Duration>,
}

/// Creates a Job from a CronJob's template now (`kubectl create job --from=cronjob/...`);
/// returns its name.
pub(crate) fn trigger_cronjob(
    sh: Arc<Shared>,
    ns: &str,
    name: &str,
) -> Result<String, crate::k8s::status::ApiError> {
    let cx = Cx::new(sh).ok_or_else(crate::k8s::status::ApiError::no_route)?;
    cronjob::trigger(&cx, ns, name)
}

impl Controllers {
    pub(crate) fn new(sh: Arc<Shared>, progress_deadline: Option<Duration>) -> Option<Self> {
        Some(Self {
            cx: Cx::new(sh)?,
            kubelet: Kubelet::default(),
            endpoints: EndpointsControllers::default(),
            autoscaler: Autoscaler::default(),
            runner: ProcessRunner::default(),
            progress_deadline,
        })
    }

    /// Runs passes until the store stops changing (at most `max` passes), with every pod ready
    /// at once: the seeded world has been running for a while.
    pub(crate) fn settle(&mut self, max: usize) {
        self.kubelet.settling = true;
        for _ in 0..max {
            let before = self.cx.sh.store.resource_version();
            self.pass();
            if self.cx.sh.store.resource_version() == before {
                break;
            }
        }
        self.kubelet.settling = false;
    }

    /// Runs until `stop` changes: a pass after every change, and at the next timed transition.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            let next = self.pass();
            let wait = next
                .unwrap_or(Duration::from_secs(1))
                .max(Duration::from_millis(5));
            tokio::select! {
                _ = stop.changed() => return,
                () = self.cx.sh.store.changed() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One reconcile pass over everything; returns when the next time-driven change is due.
    pub(crate) fn pass(&mut self) -> Option<Duration> {
        let mut next: Option<Duration> = None;
        let mut soon = |d: Option<Duration>| {
            if let Some(d) = d {
                next = Some(next.map_or(d, |n: Duration| n.min(d)));
            }
        };
        let cx = &self.cx;
        gc::collect(cx);
        let (deploys, _) = cx.sh.store.list_in(cx.t.deploy, None);
        for d in &deploys {
            soon(deployment::sync(cx, d, self.progress_deadline));
        }
        replicaset::sync_all(cx);
        statefulset::sync_all(cx);
        soon(cronjob::sync_all(cx));
        soon(job::sync_all(cx));
        let (pods, _) = cx.sh.store.list_in(cx.t.pods, None);
        let live: HashSet<&str> = pods.iter().map(|p| uid_of(&p.value)).collect();
        self.kubelet.retain(&live);
        self.runner.retain(&live);
        for p in &pods {
            soon(self.kubelet.step(cx, p));
            if cx::controller_ref(&p.value).is_some_and(|(kind, _)| kind == "Job") {
                self.runner.step(cx, p);
            }
        }
        // Status changes of pods feed ReplicaSet, StatefulSet and Deployment status: one more
        // round.
        replicaset::sync_all(cx);
        statefulset::sync_all(cx);
        soon(job::sync_all(cx));
        let (deploys, _) = cx.sh.store.list_in(cx.t.deploy, None);
        for d in &deploys {
            soon(deployment::sync(cx, d, self.progress_deadline));
        }
        self.endpoints.sync(cx);
        let act = *crate::k8s::knobs::lock(&cx.sh.knobs.autoscaling);
        self.autoscaler.sync(cx, act);
        next
    }
}
