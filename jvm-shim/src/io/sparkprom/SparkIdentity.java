package io.sparkprom;

import java.lang.reflect.Method;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Who this JVM is in Spark's terms: app id, app name, executor id and the metrics namespace that
 * prefixes its metric names. Read from the live SparkEnv through reflection, so the shim links
 * against no Scala signature and works unchanged on Spark 3.x and 4.x. SparkEnv is null while an
 * executor's metrics system is being built, so this is asked at report time, not construction.
 */
final class SparkIdentity {
    private static final Pattern VARIABLE = Pattern.compile("\\$\\{([^}]+)\\}");

    private SparkIdentity() {}

    /** The live SparkEnv, or null while there is none. */
    private static Object sparkEnv() throws Exception {
        return Class.forName("org.apache.spark.SparkEnv").getMethod("get").invoke(null);
    }

    /** The live SparkEnv's SparkConf, or null while there is none. */
    static Object sparkConf() {
        try {
            Object env = sparkEnv();
            return env == null ? null : env.getClass().getMethod("conf").invoke(env);
        } catch (Throwable t) {
            return null;
        }
    }

    /** "driver" or "executor": the metrics instance whose properties configured this JVM's sinks. */
    static String metricsInstance(Object sparkConf) {
        try {
            Method get = sparkConf.getClass().getMethod("get", String.class, String.class);
            return "driver".equals(conf(sparkConf, get, "spark.executor.id")) ? "driver" : "executor";
        } catch (Throwable t) {
            return "executor";
        }
    }

    /** The identity, or null while this JVM has no SparkEnv (yet, or ever: standalone daemons). */
    static Map<String, String> current() {
        try {
            Object env = sparkEnv();
            if (env == null) {
                return null;
            }
            Object conf = env.getClass().getMethod("conf").invoke(env);
            Method get = conf.getClass().getMethod("get", String.class, String.class);
            String appId = conf(conf, get, "spark.app.id");
            String executorId = conf(conf, get, "spark.executor.id");
            if (executorId.isEmpty()) {
                executorId = (String) env.getClass().getMethod("executorId").invoke(env);
            }
            if (appId.isEmpty() || executorId == null || executorId.isEmpty()) {
                // Not settled yet (the driver sets spark.app.id once its scheduler is up); the
                // sink caches what it gets, so half an identity must not be returned.
                return null;
            }
            String namespace = expand(conf(conf, get, "spark.metrics.namespace"), conf, get);
            Map<String, String> identity = new LinkedHashMap<String, String>();
            identity.put("app_id", appId);
            identity.put("app_name", conf(conf, get, "spark.app.name"));
            identity.put("executor_id", executorId);
            // Spark's MetricsSystem uses the app id when no namespace is set.
            identity.put("namespace", namespace.isEmpty() ? appId : namespace);
            addPlatformLabels(identity, conf, get);
            return identity;
        } catch (Throwable t) {
            return null;
        }
    }

    /**
     * Labels that say where the JVM runs, where the platform tells: Databricks (cluster id and
     * name), Kubernetes and EMR on EKS (namespace, pod, virtual cluster and job run). Sent as
     * {@code label.<name>}; the native side adds them to every series.
     */
    private static void addPlatformLabels(Map<String, String> identity, Object conf, Method get) throws Exception {
        put(identity, "databricks_cluster_id", conf(conf, get, "spark.databricks.clusterUsageTags.clusterId"),
                System.getenv("DB_CLUSTER_ID"));
        put(identity, "databricks_cluster_name", conf(conf, get, "spark.databricks.clusterUsageTags.clusterName"),
                System.getenv("DB_CLUSTER_NAME"));
        boolean kubernetes = conf(conf, get, "spark.master").startsWith("k8s://")
                || System.getenv("KUBERNETES_SERVICE_HOST") != null;
        if (kubernetes) {
            put(identity, "namespace", readFirstLine(SERVICE_ACCOUNT_NAMESPACE),
                    conf(conf, get, "spark.kubernetes.namespace"));
            put(identity, "pod", System.getenv("SPARK_EXECUTOR_POD_NAME"),
                    conf(conf, get, "spark.kubernetes.driver.pod.name"), System.getenv("HOSTNAME"));
        }
        // EMR on EKS labels the driver's and executors' pods and passes the labels as Spark conf.
        for (String role : new String[] {"driver", "executor"}) {
            String prefix = "spark.kubernetes." + role + ".label.emr-containers.amazonaws.com/";
            put(identity, "emr_virtual_cluster_id", conf(conf, get, prefix + "virtual-cluster-id"));
            put(identity, "emr_job_id", conf(conf, get, prefix + "job.id"));
        }
    }

    private static final String SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

    /** The first non-empty candidate, unless the label is already set. */
    private static void put(Map<String, String> identity, String label, String... candidates) {
        String key = "label." + label;
        if (identity.containsKey(key)) {
            return;
        }
        for (String value : candidates) {
            if (value != null && !value.trim().isEmpty()) {
                identity.put(key, value.trim());
                return;
            }
        }
    }

    private static String conf(Object conf, Method get, String key) throws Exception {
        return (String) get.invoke(conf, key, "");
    }

    private static String readFirstLine(String path) {
        try {
            java.util.List<String> lines = java.nio.file.Files.readAllLines(java.nio.file.Paths.get(path));
            return lines.isEmpty() ? null : lines.get(0);
        } catch (Exception missing) {
            return null;
        }
    }

    /** Spark substitutes ${key} in spark.metrics.namespace (e.g. ${spark.app.name}); so do we. */
    private static String expand(String value, Object conf, Method get) throws Exception {
        Matcher m = VARIABLE.matcher(value);
        StringBuffer out = new StringBuffer();
        while (m.find()) {
            String replacement = conf(conf, get, m.group(1));
            m.appendReplacement(out, Matcher.quoteReplacement(replacement));
        }
        m.appendTail(out);
        return out.toString();
    }
}
