"""crossdeploy's AWS emulator: moto (server mode, IAM enforcement on) plus small,
documented extensions that the e2e tests of the operator rely on.

Run it with ``python -m crossdeploy_emulator --port 0`` (``PYTHONPATH=tests/emulator``);
see ``tests/emulator/README.md`` for what is extended and why.

Modules, one concern each:

- ``server``               command line, moto's WSGI app, serving, shutdown
- ``identity``             who signed a request (user / assumed-role session)
- ``policy``               a small IAM policy evaluator (principal/action/resource/condition)
- ``trust``                gap (a): cross-account AssumeRole honours the role's trust policy
- ``s3_policy``            gap (b): cross-account S3 access needs a bucket-policy grant
- ``codedeploy_behaviour`` gap (c): per-group succeed/fail/hold + delays (control API)
- ``codedeploy_lifecycle`` gap (c): status/times/rollbacks/blue-green Ready, computed lazily
- ``codedeploy_targets``   gap (c): instance targets, lifecycle events (List/BatchGetDeploymentTargets)
- ``codedeploy_api``       gap (c): ids, one active deployment per group, Stop/ContinueDeployment, shapes
- ``codedeploy_iam``       gap (c): resource-level permissions (application/group/config ARNs), GetDeploymentConfig
- ``protocol_errors``      auth errors of JSON services (CodeDeploy) as JSON, not moto's XML
- ``counters``             record of every AWS call (for ``/_crossdeploy/calls`` and counters)
- ``faults``               injected throttling/5xx/latency/expired credentials (control API)
- ``fast_paths``           moto's per-request work that never changes, done once (speed only)
- ``control_api``          gap (d): the unsigned JSON control API under ``/_crossdeploy/``
- ``world``                the seeded two-account world of the CodeDeploy cross-account guide
"""

MOTO_VERSION = "5.2.5"
CONTROL_PREFIX = "/_crossdeploy"
