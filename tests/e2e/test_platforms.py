"""The deployment examples in spark-conf/, used as written: the Databricks init script run
against a directory laid out like a Databricks node, then a real Spark job with what it
installed; and the EMR on EKS / Spark on Kubernetes --conf sets run in local-cluster, signing with
credentials from a web identity (IRSA) through local fakes of STS and AMP."""
import base64
import functools
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest
import yaml

from harness.fake_aws import FakeImds, FakeSts, KeyStore, SigV4Receiver
from harness.paths import (DIST, DIST_JAR, DIST_LIB_AARCH64, JAR, JOBS, NATIVE_LIB, RELEASE, REPO, newest_version,
                           oldest_spark_jars, spark_install)
from harness.prometheus import free_port
from harness.spark import submit
from test_auth import PUSH, clean_environment
from test_end_to_end import last

INIT_SCRIPT = REPO / "spark-conf" / "databricks" / "sparkprom-init.sh"
# Stands for what the platform already has in the file; the script must keep it.
DATABRICKS_METRICS = "# platform settings\n*.source.jvm.class=org.apache.spark.metrics.source.JvmSource\n"


def databricks_node(tmp_path, files=((DIST_JAR, "sparkprom.jar"),)):
    """A node's layout before the init script: Spark's conf dir with Databricks' own metrics
    file, and a volume holding the release files (by default the release jar alone)."""
    root, source = tmp_path / "node", tmp_path / "volume"
    (root / "databricks" / "spark" / "conf").mkdir(parents=True)
    (root / "databricks" / "spark" / "conf" / "metrics.properties").write_text(DATABRICKS_METRICS)
    source.mkdir()
    for path, name in files:
        shutil.copy(path, source / name)
    return root, source


def run_init_script(root, **env):
    full = {"PATH": os.environ["PATH"], "SPARKPROM_ROOT": str(root), **env}
    return subprocess.run(["bash", str(INIT_SCRIPT)], env=full, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("volume", ["release jar", "jar and library"])
def test_databricks_init_script_installs_the_sink_and_a_real_job_pushes(prometheus, tmp_path, volume):
    # The loose libraries as the release names them: the node (x86_64 here) must take its own.
    files = [(DIST_JAR, "sparkprom.jar")] if volume == "release jar" else \
        [(JAR, "sparkprom.jar"), (NATIVE_LIB, "libsparkprom-linux-x86_64.so"),
         (DIST_LIB_AARCH64, "libsparkprom-linux-aarch64.so")]
    root, source = databricks_node(tmp_path, files)
    env = dict(SPARKPROM_URL=prometheus.write_url, SPARKPROM_SOURCE=str(source), SPARKPROM_PERIOD="2",
               SPARKPROM_LABELS="team=etl", DB_CLUSTER_NAME="etl prod, nightly", DB_IS_DRIVER="TRUE")
    for _ in range(2):  # a node restarts: the second run replaces its block, nothing doubles
        result = run_init_script(root, **env)
        assert result.returncode == 0, result.stderr
    metrics = root / "databricks" / "spark" / "conf" / "metrics.properties"
    text = metrics.read_text()
    assert text.startswith(DATABRICKS_METRICS) and text.count("sparkprom: begin") == 1, text
    assert "labels=team=etl,cluster=etl prod_ nightly" in text, text
    jar = root / "databricks" / "jars" / "sparkprom.jar"
    assert jar.read_bytes() == files[0][0].read_bytes()
    library = root / "databricks" / "sparkprom" / "libsparkprom.so"
    if volume == "release jar":  # the jar's own library is used; nothing else is installed
        assert "library=" not in text and not library.exists(), text
    else:
        assert f"library={library}" in text and library.read_bytes() == NATIVE_LIB.read_bytes(), text

    # Databricks puts /databricks/jars on every JVM's classpath and its conf dir's
    # metrics.properties in force.
    conf = {"spark.driver.extraClassPath": str(jar), "spark.executor.extraClassPath": str(jar),
            "spark.metrics.conf": str(metrics)}
    run = submit(spark_install(newest_version()), JOBS / "count_job.py", ["6"], conf=conf, jars=())
    assert run.returncode == 0, run.output[-3000:]
    pushed = last(prometheus, f'sparkprom_queue_capacity_samples{{app_id="{run.app_id}", role=~"driver|executor"}}',
                  lambda r: len(r) == 3)
    assert {labels["executor_id"] for labels, _ in pushed} == {"driver", "0", "1"}, pushed
    assert {(labels["cluster"], labels["team"]) for labels, _ in pushed} == {("etl prod_ nightly", "etl")}
    loaded_from = "the jar" if volume == "release jar" else str(library)
    assert f"native library loaded from {loaded_from}" in run.output


def test_databricks_init_script_fails_open_by_default_and_closed_when_asked(tmp_path):
    """A volume the cluster cannot read (a revoked READ VOLUME, a moved jar): the compute policy
    runs the script on every cluster, so by default it says so at ERROR (cluster log delivery
    keeps stderr) and the cluster starts, with a stand-in sink class so that a Spark conf naming
    the sink does not fail Spark. SPARKPROM_FAIL_OPEN=false fails the start, nothing installed."""
    root, _ = databricks_node(tmp_path)
    env = {"SPARKPROM_SOURCE": str(tmp_path / "nowhere"), "SPARKPROM_URL": "http://127.0.0.1:9/api/v1/write"}
    result = run_init_script(root, **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ERROR" in result.stderr and "sparkprom.jar cannot be read" in result.stderr, result.stderr
    assert "READ VOLUME" in result.stderr and "NOT active on this node" in result.stderr, result.stderr
    assert "SPARKPROM_FAIL_OPEN=false" in result.stderr, result.stderr
    assert "cannot be read" in (root / "tmp" / "sparkprom-init.log").read_text()
    stand_in = root / "databricks" / "jars" / "sparkprom.jar"
    assert "io/sparkprom/RemoteWriteSink.class" in zipfile.ZipFile(stand_in).namelist()
    assert (root / "databricks" / "spark" / "conf" / "metrics.properties").read_text() == DATABRICKS_METRICS

    closed_root, _ = databricks_node(tmp_path / "closed")
    closed = run_init_script(closed_root, SPARKPROM_FAIL_OPEN="false", **env)
    assert closed.returncode == 1, closed.stdout + closed.stderr
    assert "failing this init script" in closed.stderr, closed.stderr
    assert not (closed_root / "databricks" / "jars" / "sparkprom.jar").exists()

    # A jar whose core does not load on this node (here: a library of another build beside it):
    # the real jar stays (its sink says so at ERROR in each JVM and stays off).
    _, source = databricks_node(tmp_path / "other", [(JAR, "sparkprom.jar")])
    (source / "libsparkprom.so").write_bytes(DIST_LIB_AARCH64.read_bytes())
    broken = run_init_script(root, SPARKPROM_SOURCE=str(source))
    assert broken.returncode == 0, broken.stdout + broken.stderr
    assert "the native core does not load on this node" in broken.stderr, broken.stderr
    assert (root / "databricks" / "jars" / "sparkprom.jar").read_bytes() == JAR.read_bytes()
    broken_closed = run_init_script(root, SPARKPROM_SOURCE=str(source), SPARKPROM_FAIL_OPEN="false")
    assert broken_closed.returncode == 1, broken_closed.stdout + broken_closed.stderr


def test_databricks_stand_in_lets_a_job_with_the_policys_conf_run(tmp_path):
    """The fail-open case Spark would otherwise turn into a failed SparkContext: the compute
    policy's Spark conf names io.sparkprom.RemoteWriteSink and the jar could not be installed.
    With the stand-in the job runs, and the JVM says on stderr that it sends no metrics."""
    root, _ = databricks_node(tmp_path)
    assert run_init_script(root, SPARKPROM_SOURCE=str(tmp_path / "nowhere")).returncode == 0
    jar = root / "databricks" / "jars" / "sparkprom.jar"
    conf = {**compute_policy_spark_conf(), "spark.driver.extraClassPath": str(jar),
            "spark.executor.extraClassPath": str(jar)}
    run = submit(spark_install(newest_version()), JOBS / "count_job.py", ["2"], conf=conf, jars=(), master="local[2]")
    assert run.returncode == 0, run.output[-3000:]
    assert "ERROR sparkprom: not installed on this node" in run.output, run.output[-3000:]


def test_databricks_stand_in_is_what_its_source_compiles_to(tmp_path):
    """The jar embedded in the init script is release/fallback_jar.sh's output for
    jvm-shim/fallback/ (compared as javap prints the classes: the bytes depend on javac's version)."""
    scripts = [INIT_SCRIPT, REPO / "spark-conf" / "emr-on-ec2" / "sparkprom-bootstrap.sh"]
    embedded = {re.search(r"FALLBACK_JAR='\n(.*?)'\n", script.read_text(), re.S).group(1) for script in scripts}
    assert len(embedded) == 1, "the install scripts embed different stand-ins: run release/fallback_jar.sh"
    jar = tmp_path / "embedded.jar"
    jar.write_bytes(base64.b64decode(embedded.pop()))
    jars = oldest_spark_jars()
    classpath = ":".join(str(next(jars.glob(pattern))) for pattern in
                         ("spark-core_2.12-*.jar", "metrics-core-*.jar", "scala-library-2.12.*.jar"))
    subprocess.run(["javac", "--release", "8", "-Xlint:-options", "-cp", classpath, "-d", str(tmp_path / "classes"),
                    str(REPO / "jvm-shim" / "fallback" / "io" / "sparkprom" / "RemoteWriteSink.java")], check=True)

    def javap(classpath_entry):
        return subprocess.run(["javap", "-c", "-p", "-constants", "-cp", str(classpath_entry),
                               "io.sparkprom.RemoteWriteSink"], capture_output=True, text=True, check=True).stdout
    assert javap(jar) == javap(tmp_path / "classes")


def test_databricks_init_script_configured_by_the_file_beside_the_jar(prometheus, tmp_path):
    """DBR 19 standard access: the script gets no custom environment variable. SOURCE edited in
    the script as docs/platforms.md says, the settings in sparkprom-init.env beside the jar; the block it
    writes passes `check` against the real Prometheus."""
    root, source = databricks_node(tmp_path)
    script = tmp_path / "sparkprom-init.sh"
    text = INIT_SCRIPT.read_text()
    assert 'SOURCE="${SPARKPROM_SOURCE:-/Volumes/main/default/sparkprom}"' in text
    script.write_text(text.replace("/Volumes/main/default/sparkprom", str(source)))
    # The user's own `cluster` label wins over the cluster's name (given twice, the sink would be
    # off); a misspelt setting is named with what it most likely meant, and signing is said off.
    (source / "sparkprom-init.env").write_text(
        f"# sparkprom settings\nSPARKPROM_URL={prometheus.write_url}\nSPARKPROM_LABELS=cluster=mine,env=test\n"
        "SPARKPROM_PERIOD=5\nSPARKPROM_REGOIN=us-east-1\n")
    result = subprocess.run(["bash", str(script)], env={"PATH": os.environ["PATH"], "SPARKPROM_ROOT": str(root),
                                                        "DB_CLUSTER_NAME": "etl prod"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"read {source / 'sparkprom-init.env'}" in result.stdout, result.stdout
    assert "sparkprom native core" in result.stdout, result.stdout
    assert "'SPARKPROM_REGOIN' is not a setting of this script and is ignored; did you mean SPARKPROM_REGION?" \
        in result.stderr, result.stderr
    assert "ERROR SigV4 signing is OFF" in result.stderr, result.stderr
    metrics = root / "databricks" / "spark" / "conf" / "metrics.properties"
    block = metrics.read_text()
    assert f"*.sink.sparkprom.url={prometheus.write_url}" in block and "labels=cluster=mine,env=test\n" in block, block
    assert "sigv4" not in block, block
    assert "*.sink.sparkprom.period=5" in block, block
    jar = root / "databricks" / "jars" / "sparkprom.jar"
    check = subprocess.run(["java", "-jar", str(jar), "check", str(metrics)], capture_output=True, text=True,
                           timeout=120, env=clean_environment())
    assert check.returncode == 0, check.stdout + check.stderr


def test_databricks_init_script_signs_for_an_amp_url_without_a_region(tmp_path):
    """An AMP URL always needs SigV4: its region is taken from the URL, and the log says so."""
    root, source = databricks_node(tmp_path)
    url = "https://aps-workspaces.eu-west-1.amazonaws.com/workspaces/ws-1/api/v1/remote_write"
    result = run_init_script(root, SPARKPROM_SOURCE=str(source), SPARKPROM_URL=url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SigV4 signing is on: region eu-west-1" in result.stdout, result.stdout
    block = (root / "databricks" / "spark" / "conf" / "metrics.properties").read_text()
    assert "*.sink.sparkprom.sigv4.region=eu-west-1" in block, block


COMPUTE_POLICY = REPO / "spark-conf" / "databricks" / "compute-policy.json"


def compute_policy_spark_conf():
    """The Spark conf a cluster made with the compute policy gets: {key: value} (fixed values,
    and the defaults of what a team may change)."""
    policy = json.loads(COMPUTE_POLICY.read_text())
    return {key[len("spark_conf."):]: rule.get("value", rule.get("defaultValue"))
            for key, rule in policy.items() if key.startswith("spark_conf.")}


def test_databricks_compute_policy_leaves_teams_their_profile_and_labels(tmp_path):
    """Current clusters name their access mode DATA_SECURITY_MODE_*. The policy fixes the sink,
    not the team's instance profile (S3, Glue, KMS; they add aps:RemoteWrite to it) nor its
    labels (a default); its keys are instance-scoped (`driver`, `executor`), as `*` in a policy
    key is not known to be accepted. `check` reads the policy file itself."""
    policy = json.loads(COMPUTE_POLICY.read_text())
    modes = policy["data_security_mode"]["values"]
    assert {"DATA_SECURITY_MODE_STANDARD", "DATA_SECURITY_MODE_DEDICATED", "DATA_SECURITY_MODE_AUTO"} <= set(modes)
    assert not any(key.startswith("aws_attributes.instance_profile") for key in policy), policy
    sink_keys = [key for key in policy if ".sink." in key]
    assert sink_keys and not any("conf.*." in key for key in sink_keys), sink_keys
    for role in ("driver", "executor"):
        labels = policy[f"spark_conf.spark.metrics.conf.{role}.sink.prom.labels"]
        assert labels["type"] == "unlimited" and labels["defaultValue"], labels
    env = clean_environment(AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="example",
                            HTTPS_PROXY=f"http://127.0.0.1:{free_port()}")
    result = subprocess.run(["java", "-jar", str(DIST_JAR), "check", str(COMPUTE_POLICY)], capture_output=True,
                            text=True, timeout=120, env=env)
    out = result.stdout + result.stderr
    assert "sink 'prom' for instance driver, executor:" in out, out
    assert "ok   properties are valid" in out and "FAIL sparkprom" not in out and "WARN property" not in out, out


def test_databricks_without_environment_variables_the_policys_spark_conf_configures_the_sink(prometheus, tmp_path):
    """DBR 19 and later: the init script sees no custom variable. It installs the jar alone (and
    removes a block an earlier run wrote); the compute policy's Spark conf configures the sink,
    signing for AMP with the instance profile (IMDSv2)."""
    root, source = databricks_node(tmp_path)
    first = run_init_script(root, SPARKPROM_SOURCE=str(source), SPARKPROM_URL="http://127.0.0.1:9/api/v1/write")
    assert first.returncode == 0, first.stderr
    result = run_init_script(root, SPARKPROM_SOURCE=str(source))
    assert result.returncode == 0, result.stderr
    metrics = root / "databricks" / "spark" / "conf" / "metrics.properties"
    assert metrics.read_text() == DATABRICKS_METRICS
    jar = root / "databricks" / "jars" / "sparkprom.jar"
    assert jar.read_bytes() == DIST_JAR.read_bytes()
    log = (root / "tmp" / "sparkprom-init.log").read_text()
    assert "configured by the cluster's Spark config alone" in log, log

    conf = compute_policy_spark_conf()
    region = conf["spark.metrics.conf.driver.sink.prom.sigv4.region"]
    conf.update({"spark.driver.extraClassPath": str(jar), "spark.executor.extraClassPath": str(jar),
                 "spark.metrics.conf": str(metrics)})
    issued = KeyStore()
    with FakeImds(issued) as imds, SigV4Receiver(issued, region, forward_to=prometheus.write_url) as amp:
        for role in ("driver", "executor"):
            path = re.sub(r"^https://[^/]+", "", conf[f"spark.metrics.conf.{role}.sink.prom.url"])
            conf[f"spark.metrics.conf.{role}.sink.prom.url"] = amp.url + path
            conf[f"spark.metrics.conf.{role}.sink.prom.period"] = "2"
        env = clean_environment(AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
        del env["AWS_EC2_METADATA_DISABLED"]
        run = submit(spark_install(newest_version()), JOBS / "count_job.py", ["6"], conf=conf, jars=(), env=env)
        assert run.returncode == 0, run.output[-3000:]
    assert amp.requests and not amp.refused(), amp.refused()[:3]
    pushed = last(prometheus, f'sparkprom_queue_capacity_samples{{app_id="{run.app_id}", role=~"driver|executor"}}',
                  lambda r: len(r) == 3)
    assert {labels["executor_id"] for labels, _ in pushed} == {"driver", "0", "1"}, pushed
    assert {labels["team"] for labels, _ in pushed} == {"data-platform"}, pushed


EMR_ON_EKS = REPO / "spark-conf" / "emr-on-eks"


def emr_on_eks_conf(request_file, conf_dir):
    """Every --conf of a start-job-run request: sparkSubmitParameters, then the spark-defaults;
    its spark-metrics classification is written to conf_dir/metrics.properties, as EMR does, and
    named by spark.metrics.conf."""
    request = json.loads((EMR_ON_EKS / request_file).read_text())
    params = request["jobDriver"]["sparkSubmitJobDriver"]["sparkSubmitParameters"]
    conf = dict(pair.split("=", 1) for pair in re.findall(r"--conf (\S+)", params))
    for classification in request["configurationOverrides"]["applicationConfiguration"]:
        kind = classification["classification"]
        assert kind in ("spark-defaults", "spark-metrics"), kind
        if kind == "spark-defaults":
            conf.update(classification["properties"])
        else:
            metrics = conf_dir / "metrics.properties"
            metrics.write_text("".join(f"{k}={v}\n" for k, v in classification["properties"].items()))
            conf["spark.metrics.conf"] = str(metrics)
    return conf


def sink_setting(conf, suffix):
    """(key, value) of the sink property ending in `suffix`, in the Spark conf or the metrics file."""
    settings = dict(conf)
    if "spark.metrics.conf" in conf:
        lines = open(conf["spark.metrics.conf"]).read().splitlines()
        settings.update(line.split("=", 1) for line in lines if "=" in line)
    return next((k, v) for k, v in settings.items() if k.endswith(suffix) and ".sink." in k)


def set_sink_setting(conf, key, value):
    if key in conf:
        conf[key] = value
    else:
        path = conf["spark.metrics.conf"]
        lines = open(path).read().splitlines()
        with open(path, "w") as f:
            f.writelines(f"{k}={value if k == key else v}\n" for k, v in (line.split("=", 1) for line in lines))


KUBERNETES = REPO / "spark-conf" / "kubernetes"


def kubernetes_conf():
    lines = (KUBERNETES / "spark-submit.conf").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def spark_application_conf():
    """The spark-submit conf the Kubeflow Spark Operator makes of spark-application.yaml, after
    the checks its CRD makes of the fields used (sparkConf is a map of strings)."""
    app = yaml.safe_load((KUBERNETES / "spark-application.yaml").read_text())
    assert app["apiVersion"] == "sparkoperator.k8s.io/v1beta2" and app["kind"] == "SparkApplication"
    spec = app["spec"]
    assert spec["type"] in ("Java", "Scala", "Python", "R") and spec["mode"] in ("cluster", "client")
    assert spec["image"] and spec["mainApplicationFile"] and spec["sparkVersion"]
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in spec["sparkConf"].items()), spec["sparkConf"]
    return {**spec["sparkConf"], "spark.kubernetes.namespace": app["metadata"]["namespace"],
            "spark.kubernetes.container.image": spec["image"],
            "spark.kubernetes.authenticate.driver.serviceAccountName": spec["driver"]["serviceAccount"],
            "spark.kubernetes.authenticate.executor.serviceAccountName": spec["executor"]["serviceAccount"],
            "spark.executor.instances": str(spec["executor"]["instances"])}


@pytest.mark.parametrize("example", ["kubernetes", "spark-application"])
def test_kubernetes_recipes_give_driver_and_executors_the_irsa_service_account(example):
    """Executors without the service account get no credentials: their metrics never arrive."""
    conf = kubernetes_conf() if example == "kubernetes" else spark_application_conf()
    accounts = {doc["metadata"]["name"]: doc for doc in yaml.safe_load_all((KUBERNETES / "service-account.yaml").read_text())
                if doc["kind"] == "ServiceAccount"}
    driver = conf["spark.kubernetes.authenticate.driver.serviceAccountName"]
    assert conf["spark.kubernetes.authenticate.executor.serviceAccountName"] == driver and driver in accounts
    assert accounts[driver]["metadata"]["namespace"] == conf["spark.kubernetes.namespace"]
    assert accounts[driver]["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith("arn:aws:iam::")
    # The Apache Spark image as it is: nothing to rebuild for sparkprom.
    assert conf["spark.kubernetes.container.image"] == "spark:4.0.1-scala2.13-java17-python3-ubuntu"


# Every pod template that installs the jar: (file, path to the pod spec inside it, where the Spark
# container must find the jar). Apache Spark's recipes put /opt/sparkprom on extraClassPath; EMR
# sets extraClassPath itself (a job's value would replace EMR's list), so its templates mount the
# one file into Spark's jars folder.
POD_TEMPLATES = [
    (KUBERNETES / "pod-template.yaml", (), "/opt/sparkprom/sparkprom.jar"),
    (KUBERNETES / "spark-application.yaml", ("spec", "driver", "template"), "/opt/sparkprom/sparkprom.jar"),
    (KUBERNETES / "spark-application.yaml", ("spec", "executor", "template"), "/opt/sparkprom/sparkprom.jar"),
    (EMR_ON_EKS / "driver-pod-template.yaml", (), "/usr/lib/spark/jars/sparkprom.jar"),
    (EMR_ON_EKS / "executor-pod-template.yaml", (), "/usr/lib/spark/jars/sparkprom.jar"),
]
FETCH_SCRIPT = KUBERNETES / "sparkprom-fetch.sh"


def pod_spec(path, at):
    document = yaml.safe_load(path.read_text())
    for key in at:
        document = document[key]
    return document["spec"]


def init_container(path, at=()):
    (container,) = [c for c in pod_spec(path, at)["initContainers"] if c["name"] == "sparkprom-jar"]
    return container


@pytest.mark.parametrize("path,at,jar", POD_TEMPLATES, ids=lambda v: v.name if isinstance(v, Path) else "")
def test_pod_templates_install_the_jar_without_a_custom_image(path, at, jar):
    """Each template's init container runs sparkprom-fetch.sh (the same lines, a test-kept copy)
    into an emptyDir the Spark container mounts, and gives that container the node's name from
    the downward API (in the template itself: the Spark Operator applies spec.*.env's valueFrom
    only with its webhook on, a template always)."""
    spec = pod_spec(path, at)
    container = init_container(path, at)
    body = FETCH_SCRIPT.read_text()
    assert container["command"] == ["/bin/sh", "-c"] and container["args"] == [body[body.index("set -eu"):]]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SPARKPROM_JAR_URL"].endswith("/sparkprom.jar") and "SPARKPROM_SHA256" in env, env
    assert {"name": "sparkprom", "emptyDir": {}} in spec["volumes"]
    assert {"name": "sparkprom", "mountPath": "/opt/sparkprom"} in container["volumeMounts"]
    spark = spec["containers"][0]
    node_name = {"name": "SPARKPROM_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}
    assert node_name in spark["env"], spark
    (mount,) = [m for m in spark["volumeMounts"] if m["name"] == "sparkprom"]
    if jar.startswith("/opt/sparkprom/"):
        conf = kubernetes_conf() if path.name == "pod-template.yaml" else spark_application_conf()
        assert mount["mountPath"] == "/opt/sparkprom"
        assert conf["spark.driver.extraClassPath"] == conf["spark.executor.extraClassPath"] == jar
    else:
        assert mount["mountPath"] == jar and mount["subPath"] == "sparkprom.jar", mount
        for request in ("start-job-run.json", "start-job-run-spark-metrics.json"):
            assert "extraClassPath" not in (EMR_ON_EKS / request).read_text()


@pytest.fixture(scope="module")
def release_mirror():
    """The release files (target/dist) served over HTTP, as a mirror of the release would."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(DIST)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def run_init_container(container, directory, url, sha256=None):
    """The init container's command, as the template writes it, with the volume at `directory`
    and the jar at `url`; its pinned SHA-256 replaced by `sha256` (None: from SHA256SUMS)."""
    env = {"PATH": os.environ["PATH"], **{e["name"]: e["value"] for e in container["env"] if "value" in e},
           "SPARKPROM_JAR_URL": url, "SPARKPROM_DIR": str(directory)}
    env.pop("SPARKPROM_SHA256")
    if sha256:
        env["SPARKPROM_SHA256"] = sha256
    directory.mkdir(parents=True, exist_ok=True)
    return subprocess.run([*container["command"], *container["args"]], env=env, capture_output=True, text=True,
                          timeout=120)


def released_sha256():
    return next(line.split()[0] for line in (DIST / "SHA256SUMS").read_text().splitlines()
                if line.split()[1].lstrip("*") == "sparkprom.jar")


def test_init_container_takes_the_release_jar_only_when_its_sha256_matches(release_mirror, tmp_path):
    container = init_container(KUBERNETES / "pod-template.yaml")
    url = f"{release_mirror}/sparkprom.jar"
    # From SHA256SUMS beside the jar, and pinned in the template.
    for pin in (None, released_sha256()):
        volume = tmp_path / f"volume-{pin is None}"
        result = run_init_container(container, volume, url, pin)
        assert result.returncode == 0, result.stdout + result.stderr
        assert (volume / "sparkprom.jar").read_bytes() == DIST_JAR.read_bytes()
        assert sorted(p.name for p in volume.iterdir() if not p.name.startswith(".")) == ["sparkprom.jar"]
    # The tiny image's way: a path in the image, SHA256SUMS beside it.
    result = run_init_container(container, tmp_path / "from-image", str(DIST_JAR))
    assert result.returncode == 0, result.stderr

    refused = run_init_container(container, tmp_path / "pinned-wrong", url, "0" * 64)
    assert refused.returncode == 1 and "refused" in refused.stderr, refused.stderr
    assert not (tmp_path / "pinned-wrong" / "sparkprom.jar").exists()
    # A jar that is not the released one (cut short on the way, or replaced) beside the real sums.
    mirror = tmp_path / "bad-mirror"
    mirror.mkdir()
    (mirror / "sparkprom.jar").write_bytes(DIST_JAR.read_bytes()[:-100])
    shutil.copy(DIST / "SHA256SUMS", mirror / "SHA256SUMS")
    bad = run_init_container(container, tmp_path / "bad", str(mirror / "sparkprom.jar"))
    assert bad.returncode == 1 and f"but {released_sha256()}: refused" in bad.stderr, bad.stderr
    assert not (tmp_path / "bad" / "sparkprom.jar").exists()
    missing = run_init_container(container, tmp_path / "missing", f"{release_mirror}/nothing/sparkprom.jar")
    assert missing.returncode == 1 and "ERROR sparkprom: cannot fetch" in missing.stderr, missing.stderr


def test_emr_serverless_image_and_request():
    """The image (checked as text: no Docker engine here) puts the jar in Spark's jars folder of
    EMR Serverless' own image and ends as hadoop; the request configures the sink per job."""
    folder = REPO / "spark-conf" / "emr-serverless"
    lines = [line.strip() for line in (folder / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert "FROM public.ecr.aws/emr-serverless/spark/${EMR_RELEASE}:latest" in lines
    assert "COPY sparkprom.jar /usr/lib/spark/jars/sparkprom.jar" in lines and lines[-1] == "USER hadoop:hadoop"
    request = json.loads((folder / "start-job-run.json").read_text())
    params = request["jobDriver"]["sparkSubmit"]["sparkSubmitParameters"]
    assert "--conf spark.metrics.conf.*.sink.amp.class=io.sparkprom.RemoteWriteSink" in params
    assert "extraClassPath" not in params  # EMR's own list stays


def test_jar_image_holds_only_the_release_files():
    """Checked as text (no Docker engine here): the jar, its sums and the fetch script."""
    lines = [line.strip() for line in (KUBERNETES / "jar-image" / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0].startswith("FROM busybox:")
    assert "COPY sparkprom.jar SHA256SUMS sparkprom-fetch.sh /sparkprom/" in lines


def test_kubernetes_image_puts_the_jar_on_sparks_classpath_and_ends_as_the_spark_user():
    """Checked as text (no Docker engine here)."""
    lines = [line.strip() for line in (KUBERNETES / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0].startswith("ARG SPARK_IMAGE=spark:") and lines[1] == "FROM ${SPARK_IMAGE}"
    assert "COPY sparkprom.jar /opt/spark/jars/sparkprom.jar" in lines
    assert lines[-1] == "USER 185"


EMR_ON_EC2 = REPO / "spark-conf" / "emr-on-ec2"
BOOTSTRAP = EMR_ON_EC2 / "sparkprom-bootstrap.sh"


def emr_on_ec2_conf(conf_dir):
    """configurations.json as EMR applies it: spark-defaults into the Spark conf, spark-metrics
    into metrics.properties (named by spark.metrics.conf)."""
    conf = {}
    for classification in json.loads((EMR_ON_EC2 / "configurations.json").read_text()):
        if classification["Classification"] == "spark-defaults":
            conf.update(classification["Properties"])
        else:
            assert classification["Classification"] == "spark-metrics", classification
            metrics = conf_dir / "metrics.properties"
            metrics.write_text("".join(f"{k}={v}\n" for k, v in classification["Properties"].items()))
            conf["spark.metrics.conf"] = str(metrics)
    return conf


def run_bootstrap(root, *args, **env):
    return subprocess.run(["bash", str(BOOTSTRAP), *map(str, args)], capture_output=True, text=True, timeout=120,
                          env={"PATH": os.environ["PATH"], "SPARKPROM_ROOT": str(root), **env})


def test_emr_bootstrap_action_installs_the_checked_jar_where_emrs_class_path_looks(release_mirror, tmp_path):
    """Into /usr/share/aws/emr/emrfs/auxlib/, on EMR's own extraClassPath; a jar that does not
    match its SHA-256 is refused, and the node starts with the stand-in (or, fail-closed, not)."""
    url = f"{release_mirror}/sparkprom.jar"
    auxlib = Path("usr/share/aws/emr/emrfs/auxlib")
    for args in ((url, released_sha256()), (url,)):
        root = tmp_path / f"node-{len(args)}"
        result = run_bootstrap(root, *args)
        assert result.returncode == 0, result.stdout + result.stderr
        assert (root / auxlib / "sparkprom.jar").read_bytes() == DIST_JAR.read_bytes()
    wrong = run_bootstrap(tmp_path / "wrong", url, "0" * 64)
    assert wrong.returncode == 0 and "refused" in wrong.stderr and "NOT active" in wrong.stderr, wrong.stderr
    assert "io/sparkprom/RemoteWriteSink.class" in zipfile.ZipFile(tmp_path / "wrong" / auxlib / "sparkprom.jar").namelist()
    assert (tmp_path / "wrong" / auxlib / "sparkprom.jar").stat().st_size < 10_000
    closed = run_bootstrap(tmp_path / "closed", url, "0" * 64, "fail-closed")
    assert closed.returncode == 1 and not (tmp_path / "closed" / auxlib / "sparkprom.jar").exists(), closed.stderr


@pytest.mark.parametrize("example", ["start-job-run.json", "start-job-run-spark-metrics.json", "kubernetes",
                                     "spark-application", "emr-on-ec2"])
def test_platform_conf_examples_push_from_every_executor(prometheus, release_mirror, tmp_path, example):
    conf = kubernetes_conf() if example == "kubernetes" else spark_application_conf() \
        if example == "spark-application" else emr_on_ec2_conf(tmp_path) if example == "emr-on-ec2" \
        else emr_on_eks_conf(example, tmp_path)
    url_key, url = sink_setting(conf, ".url")
    _, region = sink_setting(conf, ".sigv4.region")
    # What differs from the cluster, and nothing else: Kubernetes settings (local-cluster here),
    # where the image put the files, and AMP's and STS's addresses.
    conf = {k: v for k, v in conf.items() if not k.startswith("spark.kubernetes.") and k != "spark.executor.instances"}
    # The release jar alone (it loads its own library), where the recipe's init container put it:
    # on the class path the recipe names (Apache Spark), or in Spark's jars folder (EMR).
    assert not any(k.endswith(".library") for k in conf), conf
    if "spark.metrics.conf" in conf:
        assert ".library=" not in open(conf["spark.metrics.conf"]).read()
    volume = tmp_path / "sparkprom-volume"
    if example == "emr-on-ec2":
        # The bootstrap action's folder, which EMR's own extraClassPath names as auxlib/*.
        installed = run_bootstrap(tmp_path / "node", f"{release_mirror}/sparkprom.jar", released_sha256())
        volume = tmp_path / "node" / "usr" / "share" / "aws" / "emr" / "emrfs" / "auxlib"
        conf["spark.driver.extraClassPath"] = conf["spark.executor.extraClassPath"] = f"{volume}/*"
    else:
        template = KUBERNETES / "pod-template.yaml" if example == "kubernetes" else KUBERNETES / \
            "spark-application.yaml" if example == "spark-application" else EMR_ON_EKS / "driver-pod-template.yaml"
        at = ("spec", "executor", "template") if example == "spark-application" else ()
        installed = run_init_container(init_container(template, at), volume, f"{release_mirror}/sparkprom.jar",
                                       released_sha256())
        for role in ("driver", "executor"):
            path = conf.get(f"spark.{role}.extraClassPath", "/usr/lib/spark/jars/sparkprom.jar")
            conf[f"spark.{role}.extraClassPath"] = re.sub(r"^/opt/sparkprom|^/usr/lib/spark/jars", str(volume), path)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    issued = KeyStore()
    token = tmp_path / "token"
    token.write_text("irsa-projected-token")
    with FakeSts(issued, region, web_identity_tokens={"irsa-projected-token"}) as sts, FakeImds(issued) as imds, \
            SigV4Receiver(issued, region, forward_to=prometheus.write_url) as amp:
        set_sink_setting(conf, url_key, amp.url + re.sub(r"^https://[^/]+", "", url))
        if example == "emr-on-ec2":
            # The cluster's instance profile, through IMDSv2; node statistics keyed by the host.
            env = clean_environment(AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url)
            del env["AWS_EC2_METADATA_DISABLED"]
            node = socket.gethostname()
        else:
            env = clean_environment(AWS_ROLE_ARN="arn:aws:iam::111122223333:role/emr-eks-job-role",
                                    AWS_WEB_IDENTITY_TOKEN_FILE=str(token), AWS_ENDPOINT_URL_STS=sts.url)
            # What the downward API gives through each recipe's pod templates. The recipe's period
            # (10 s) is longer than this 6-second job: node statistics read before the first
            # report still go out with it.
            node = env["SPARKPROM_NODE_NAME"] = "ip-10-0-1-17.ec2.internal"
        run = submit(spark_install(newest_version()), JOBS / "count_job.py", ["6"], conf=conf, jars=(), env=env)
        assert run.returncode == 0, run.output[-3000:]
    assert amp.requests and not amp.refused(), amp.refused()[:3]
    assert "/workspaces/ws-" in amp.requests[0].path
    pushed = last(prometheus, f'sparkprom_queue_capacity_samples{{app_id="{run.app_id}", role=~"driver|executor"}}',
                  lambda r: len(r) == 3)
    assert {labels["executor_id"] for labels, _ in pushed} == {"driver", "0", "1"}, pushed
    nodes = last(prometheus, f'node_boot_time_seconds{{app_id="{run.app_id}"}}', lambda r: len(r) == 3)
    assert {labels["instance"] for labels, _ in nodes} == {node}, nodes


@pytest.mark.parametrize("request_file", ["start-job-run.json", "start-job-run-spark-metrics.json"])
def test_emr_on_eks_requests_name_the_templates_a_current_release_and_where_logs_go(request_file, tmp_path):
    """Each request names a pod template per role (uploaded to S3 from spark-conf/emr-on-eks), uses
    EMR's own image on a current release, and sends the driver's and executors' logs (where the
    sink's lines are) to S3 and CloudWatch."""
    conf = emr_on_eks_conf(request_file, tmp_path)
    for role in ("driver", "executor"):
        location = conf[f"spark.kubernetes.{role}.podTemplateFile"]
        assert location.startswith("s3://") and (EMR_ON_EKS / location.rsplit("/", 1)[1]).exists(), location
    assert "spark.kubernetes.container.image" not in conf
    request = json.loads((EMR_ON_EKS / request_file).read_text())
    assert re.fullmatch(r"emr-(7\.1[0-9]\.0|spark-8\.\d\.0)-latest", request["releaseLabel"]), request["releaseLabel"]
    monitoring = request["configurationOverrides"]["monitoringConfiguration"]
    assert monitoring["s3MonitoringConfiguration"]["logUri"].startswith("s3://")
    assert monitoring["cloudWatchMonitoringConfiguration"]["logGroupName"]


def test_emr_on_eks_image_keeps_emr_s_user_and_mounted_paths():
    """The Dockerfile cannot be built here (no Docker engine): what EMR requires of a custom image
    is checked in its text. It ends as the hadoop user, builds on either EMR line, and writes
    nothing where EMR mounts the job's configuration or logs at run time."""
    lines = [line.strip() for line in (EMR_ON_EKS / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert [line for line in lines if line.startswith("USER")][-1] == "USER hadoop:hadoop"
    assert "FROM public.ecr.aws/emr-on-eks/spark/${EMR_RELEASE}:latest" in lines
    header = (EMR_ON_EKS / "Dockerfile").read_text()
    assert "EMR_RELEASE=emr-7." in header and "EMR_RELEASE=emr-spark-8." in header
    copies = [line.split()[-1] for line in lines if line.startswith("COPY")]
    assert copies == ["/usr/lib/spark/jars/sparkprom.jar"], copies
    mounted = ("/etc/spark/conf", "/usr/lib/spark/conf", "/var/log/spark", "/tmp")
    assert not any(dest.startswith(mounted) for dest in copies)


def test_version_command_prints_both_versions_and_refuses_a_mismatch(tmp_path):
    ok = subprocess.run(["java", "-jar", str(DIST_JAR), "--version"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # The development jar carries no core: the one beside it loads here, but a sink (which does
    # not look beside the jar) would stay off, so the answer is no.
    beside = subprocess.run(["java", "-jar", str(JAR), "--version"], capture_output=True, text=True, timeout=60)
    assert beside.returncode == 1, beside.stdout + beside.stderr
    assert "would load: none (it would stay off)" in beside.stdout and "NOT OK" in beside.stdout, beside.stdout
    version = re.search(r"^sparkprom jar (\S+)$", beside.stdout, re.M).group(1)
    assert f"sparkprom native core {version} ({NATIVE_LIB})" in beside.stdout, beside.stdout
    given = subprocess.run(["java", "-jar", str(JAR), "--version", str(NATIVE_LIB)], capture_output=True, text=True,
                           timeout=60)
    assert given.returncode == 0, given.stdout + given.stderr
    # A native library of another build: a stand-in that answers version() with 0.0.0-other.
    source = tmp_path / "other.c"
    source.write_text('#include <jni.h>\n'
                      'JNIEXPORT jstring JNICALL Java_io_sparkprom_NativeCore_version(JNIEnv *env, jclass c) {\n'
                      '  return (*env)->NewStringUTF(env, "0.0.0-other");\n}\n')
    java_home = subprocess.run(["java", "-XshowSettings:properties", "-version"], capture_output=True,
                               text=True).stderr
    home = re.search(r"java\.home = (\S+)", java_home).group(1)
    other = tmp_path / "libsparkprom.so"
    subprocess.run(["gcc", "-shared", "-fPIC", f"-I{home}/include", f"-I{home}/include/linux", "-o", str(other),
                    str(source)], check=True)
    mismatch = subprocess.run(["java", "-jar", str(JAR), "--version", str(other)], capture_output=True, text=True,
                              timeout=60)
    assert mismatch.returncode == 1, mismatch.stdout
    assert "native core 0.0.0-other" in mismatch.stdout and "MISMATCH" in mismatch.stdout, mismatch.stdout


def properties_file(path):
    """{sink name: {property: value}} of a metrics.properties file, read as java.util.Properties
    reads it (for these files: comments, key=value, backslash escapes)."""
    sinks = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, value = line.split("=", 1)
        instance, _, sink, prop = key.strip().split(".", 3)
        assert instance == "*" and _ == "sink", key
        sinks.setdefault(sink, {})[prop] = re.sub(r"\\(.)", r"\1", value.strip())
    return sinks


def test_a_misspelt_property_is_warned_about():
    """The control for the check below: the core names a property it does not know."""
    command = [str(PUSH), "--reports", "0", f"url=http://127.0.0.1:{free_port()}/api/v1/write",
               "flushTimeout=200ms", "node.enabled=false", "maxSampelsPerSend=500"]
    result = subprocess.run(command, env=clean_environment(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "ignoring unknown sink property 'maxSampelsPerSend'" in result.stderr, result.stderr


def test_an_environment_variable_that_is_not_utf8_does_not_stop_the_core():
    """A JVM's environment may hold any bytes (a Latin-1 LANG value, a binary token): the core
    reads only what it needs, and a wanted variable it cannot read is one WARN naming it."""
    env = {k.encode(): v.encode() for k, v in clean_environment().items()}
    env[b"LEGACY_LATIN1"] = b"caf\xe9"
    env[b"AWS_ROLE_SESSION_NAME"] = b"s\xff"
    env[b"AWS_ACCESS_KEY_ID"], env[b"AWS_SECRET_ACCESS_KEY"] = b"AKIDEXAMPLE", b"not-a-real-secret"
    command = [str(PUSH), "--reports", "1", f"url=http://127.0.0.1:{free_port()}/api/v1/write",
               "flushTimeout=200ms", "node.enabled=false", "sigv4.region=eu-west-1"]
    result = subprocess.run(command, env=env, capture_output=True, timeout=60)
    stderr = result.stderr.decode(errors="replace")
    assert result.returncode == 0, stderr
    assert "panicked" not in stderr, stderr
    assert "AWS_ROLE_SESSION_NAME is not valid UTF-8" in stderr, stderr


def top_level_alternatives(regex):
    """`a|b(c|d)|e` -> [a, b(c|d), e]: the alternatives outside any group."""
    parts, depth, current = [], 0, ""
    for char in regex:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


@pytest.mark.parametrize("name", ["metrics.properties", "metrics-amp.properties", "metrics-filtered.properties"])
def test_metrics_properties_examples_are_accepted_by_the_core(name):
    sinks = properties_file(REPO / "spark-conf" / name)
    assert sinks
    reference = (REPO / "docs" / "metrics-reference.md").read_text()
    node_output = subprocess.run([str(RELEASE / "examples" / "node_stats")], capture_output=True,
                                 text=True).stdout
    exported = re.findall(r"^\| `(\w+)`", reference, re.M) + re.findall(r"^(\w+)", node_output, re.M)
    for sink, props in sinks.items():
        assert props.pop("class") == "io.sparkprom.RemoteWriteSink"
        props.pop("period", None), props.pop("unit", None), props.pop("library", None)
        # Nothing listens at the examples' hosts here: start, send nothing, stop at once.
        command = [str(PUSH), "--reports", "0", *(f"{k}={v}" for k, v in props.items()), "flushTimeout=200ms",
                   "node.enabled=false"]
        env = clean_environment(AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="example")
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (name, result.stderr)
        assert "unknown sink property" not in result.stderr, result.stderr
        # Each alternative of a filter names families that exist.
        for prop in ("include", "exclude"):
            for alternative in top_level_alternatives(props[prop]) if prop in props else []:
                if alternative == "^container_":
                    continue  # cgroup v2 only; this machine has v1
                assert any(re.search(alternative, n) for n in exported), (name, prop, alternative)
