#!/usr/bin/python3
"""Consistency of the deployment files (run by ctest as deploy_manifests):
the Kubernetes manifests, the compose file, nginx's config and the
Containerfile must agree on the port, the health route, the user, the image
targets and the Redis Cluster addresses. Prints "N passed, M failed"."""
import pathlib
import re
import sys

import yaml

root = pathlib.Path(__file__).resolve().parent.parent
results = []


def check(condition, what):
    results.append((bool(condition), what))
    if not condition:
        print(f"FAIL: {what}")


def docs(path):
    return [d for d in yaml.safe_load_all((root / path).read_text()) if d]


# Kubernetes
k8s = {(d["kind"], d["metadata"]["name"]): d for d in docs("deploy/kubernetes/snapformer.yaml") + docs("deploy/kubernetes/redis-cluster.yaml")}
deployment = k8s[("Deployment", "snapformer")]
pod = deployment["spec"]["template"]
container = pod["spec"]["containers"][0]
ports = {p["name"]: p["containerPort"] for p in container["ports"]}
args = container["args"]
check(ports.get("http") == 8000, "the Deployment's container listens on 8000, named http")
check("--port=8000" in args and args[0] == "serve", "the Deployment runs `serve --port=8000`")
for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
    http = container.get(probe, {}).get("httpGet", {})
    check(http.get("path") == "/health" and http.get("port") in ("http", 8000), f"{probe} is GET /health on the http port")
check(pod["spec"]["securityContext"].get("runAsNonRoot") is True and pod["spec"]["securityContext"].get("runAsUser") == 10001,
      "pods run as the image's non-root user 10001")
check(deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items(), "the Deployment selects its pods")
service = k8s[("Service", "snapformer")]
check(service["spec"]["selector"].items() <= pod["metadata"]["labels"].items(), "the Service selects the pods")
check(service["spec"]["ports"][0]["targetPort"] in ("http", 8000), "the Service forwards to the http port")
hpa = k8s[("HorizontalPodAutoscaler", "snapformer")]
check(hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment" and hpa["spec"]["scaleTargetRef"]["name"] == "snapformer",
      "the HorizontalPodAutoscaler scales the Deployment")
check(hpa["spec"]["minReplicas"] >= 2, "at least 2 replicas, so one can fail")
redis = k8s[("StatefulSet", "redis-cluster")]
seeds = next(a.split("=", 1)[1] for a in args if a.startswith("--redis-cluster="))
for seed in seeds.split(","):
    match = re.fullmatch(r"redis-cluster-(\d+)\.redis-cluster:6379", seed)
    check(match and int(match.group(1)) < redis["spec"]["replicas"], f"--redis-cluster seed {seed} is a pod of the StatefulSet")
check(k8s[("Service", "redis-cluster")]["spec"].get("clusterIP") == "None", "the Redis Service is headless (stable pod names)")
check("cluster-enabled yes" in k8s[("ConfigMap", "redis-cluster")]["data"]["redis.conf"], "Redis runs in cluster mode")

# Compose and nginx
compose = yaml.safe_load((root / "deploy/compose/compose.yaml").read_text())
services = compose["services"]
replica = services["snapformer"]
check(replica["build"]["dockerfile"] == "Containerfile" and replica["build"]["target"] in ("cpu", "demo"),
      "compose builds a Containerfile target")
check((root / "deploy/compose" / replica["build"]["context"] / "Containerfile").exists(), "compose's build context holds the Containerfile")
command = replica["command"]
check(command[:3] == ["serve", "--port", "8000"], "compose replicas serve on 8000")
cluster = command[command.index("--redis-cluster") + 1]
for seed in cluster.split(","):
    check(seed.split(":")[0] in services, f"compose seed {seed} is a compose service")
nginx = (root / "deploy/compose/nginx.conf").read_text()
check("server snapformer:8000" in nginx, "nginx balances over the snapformer service")
check("proxy_next_upstream error timeout" in nginx, "nginx retries another replica on failure")
check(services["lb"]["ports"] == ["8000:80"], "the fleet answers on localhost:8000")

# Containerfile
containerfile = (root / "Containerfile").read_text()
check("FROM scratch AS cpu" in containerfile and "FROM cpu AS demo" in containerfile, "cpu (binary only) and demo targets")
check("USER 10001:10001" in containerfile, "the image runs as user 10001")
check(re.search(r'HEALTHCHECK .*\n?.*"healthcheck", "--port", "8000"', containerfile), "the HEALTHCHECK asks /health on 8000")
check("EXPOSE 8000" in containerfile and 'CMD ["serve", "--port", "8000"]' in containerfile, "the image serves on 8000")
check("ARG BASE=debian:bookworm-slim" in containerfile, "stages build on Debian slim")

passed = sum(ok for ok, _ in results)
print(f"{passed} passed, {len(results) - passed} failed")
sys.exit(0 if passed == len(results) else 1)
