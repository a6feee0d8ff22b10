package io.sparkprom;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;

/**
 * Who this JVM is in Spark's terms: app id, app name, executor id and the metrics namespace that
 * prefixes its metric names. Read from the live SparkEnv. SparkEnv is null while an executor's
 * metrics system is being built, so this is asked at report time, not construction.
 *
 * <p>The calls are compiled against the oldest supported Spark (3.4) and link only the members
 * they name ({@code SparkEnv.get()}, {@code conf()}, {@code executorId()},
 * {@code SparkConf.get(String, String)}), all unchanged from 3.4 to 4.3. Reflection
 * ({@code Class.getMethod}) is not used: it resolves the signatures of every public method of the
 * class, and on 4.3.0 one of SparkEnv's names a class that is not on the classpath.
 */
final class SparkIdentity {
    private static final Pattern VARIABLE = Pattern.compile("\\$\\{([^}]+)\\}");
    private static final String SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

    /** Why the last look at SparkEnv failed; null when it worked (or there was simply none yet). */
    private static volatile Throwable lookupFailure;

    private SparkIdentity() {}

    /** The live SparkEnv's SparkConf, or null while there is none (or it cannot be reached). */
    static SparkConf sparkConf() {
        try {
            SparkEnv env = SparkEnv.get();
            lookupFailure = null;
            return env == null ? null : env.conf();
        } catch (Throwable t) {
            // A linkage error (a Spark whose classes do not match) or no Spark at all.
            lookupFailure = t;
            return null;
        }
    }

    /**
     * Whether {@code registry} is the live SparkEnv's metrics system's: the sink belongs to the
     * driver's or this executor's own metrics system, not to a standalone master's or worker's
     * that share the JVM (local-cluster). False without a SparkEnv; null when it cannot be told
     * (the field is private to Spark and read by reflection; a Spark that renamed it).
     */
    static Boolean isSparkEnvRegistry(com.codahale.metrics.MetricRegistry registry) {
        try {
            SparkEnv env = SparkEnv.get();
            if (env == null) {
                return Boolean.FALSE;
            }
            java.lang.reflect.Field field = org.apache.spark.metrics.MetricsSystem.class.getDeclaredField("registry");
            field.setAccessible(true);
            return field.get(env.metricsSystem()) == registry;
        } catch (Throwable t) {
            return null;
        }
    }

    /** Why SparkEnv could not be read at the last attempt; null if nothing failed. */
    static Throwable lookupFailure() {
        return lookupFailure;
    }

    /** "driver" or "executor": the metrics instance whose properties configured this JVM's sinks. */
    static String metricsInstance(SparkConf conf) {
        return "driver".equals(conf.get("spark.executor.id", "")) ? "driver" : "executor";
    }

    /** The identity, or null while this JVM has no SparkEnv (yet, or ever: standalone daemons). */
    static Map<String, String> current() {
        try {
            SparkEnv env = SparkEnv.get();
            lookupFailure = null;
            if (env == null) {
                return null;
            }
            SparkConf conf = env.conf();
            String appId = conf.get("spark.app.id", "");
            String executorId = conf.get("spark.executor.id", "");
            if (executorId.isEmpty()) {
                executorId = env.executorId();
            }
            if (appId.isEmpty() || executorId == null || executorId.isEmpty()) {
                // Not settled yet (the driver sets spark.app.id once its scheduler is up); the
                // sink caches what it gets, so half an identity must not be returned.
                return null;
            }
            String namespace = expand(conf.get("spark.metrics.namespace", ""), conf);
            Map<String, String> identity = new LinkedHashMap<String, String>();
            identity.put("app_id", appId);
            identity.put("app_name", conf.get("spark.app.name", ""));
            identity.put("executor_id", executorId);
            // Spark's MetricsSystem uses the app id when no namespace is set.
            identity.put("namespace", namespace.isEmpty() ? appId : namespace);
            addPlatformLabels(identity, conf);
            return identity;
        } catch (Throwable t) {
            lookupFailure = t;
            return null;
        }
    }

    /**
     * Labels that say where the JVM runs, where the platform tells: Databricks (cluster id and
     * name), Kubernetes and EMR on EKS (namespace, pod, virtual cluster and job run). Sent as
     * {@code label.<name>}; the native side adds them to every series. {@code conf} is null when
     * only the process's environment can be read.
     */
    static void addPlatformLabels(Map<String, String> identity, SparkConf conf) {
        put(identity, "databricks_cluster_id", conf(conf, "spark.databricks.clusterUsageTags.clusterId"),
                System.getenv("DB_CLUSTER_ID"));
        put(identity, "databricks_cluster_name", conf(conf, "spark.databricks.clusterUsageTags.clusterName"),
                System.getenv("DB_CLUSTER_NAME"));
        boolean kubernetes = conf(conf, "spark.master").startsWith("k8s://")
                || System.getenv("KUBERNETES_SERVICE_HOST") != null;
        if (kubernetes) {
            put(identity, "namespace", readFirstLine(SERVICE_ACCOUNT_NAMESPACE),
                    conf(conf, "spark.kubernetes.namespace"));
            put(identity, "pod", System.getenv("SPARK_EXECUTOR_POD_NAME"),
                    conf(conf, "spark.kubernetes.driver.pod.name"), System.getenv("HOSTNAME"));
        }
        // EMR on EKS labels the driver's and executors' pods and passes the labels as Spark conf.
        for (String role : new String[] {"driver", "executor"}) {
            String prefix = "spark.kubernetes." + role + ".label.emr-containers.amazonaws.com/";
            put(identity, "emr_virtual_cluster_id", conf(conf, prefix + "virtual-cluster-id"));
            put(identity, "emr_job_id", conf(conf, prefix + "job.id"));
        }
    }

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

    private static String conf(SparkConf conf, String key) {
        return conf == null ? "" : conf.get(key, "");
    }

    private static String readFirstLine(String path) {
        try {
            java.util.List<String> lines = java.nio.file.Files.readAllLines(java.nio.file.Paths.get(path));
            return lines.isEmpty() ? null : lines.get(0);
        } catch (Exception missing) {
            return null;
        }
    }

    /**
     * {@code spark.metrics.namespace} as Spark's ConfigReader expands it: {@code ${env:NAME}} from
     * the environment, {@code ${system:name}} from the system properties, {@code ${key}} from the
     * conf; a reference that does not resolve stays as it is written. (JvmIdentity still checks
     * the result against the registry's names.)
     */
    static String expand(String value, SparkConf conf) {
        Matcher m = VARIABLE.matcher(value);
        StringBuffer out = new StringBuffer();
        while (m.find()) {
            String reference = m.group(1);
            String resolved;
            if (reference.startsWith("env:")) {
                resolved = System.getenv(reference.substring("env:".length()));
            } else if (reference.startsWith("system:")) {
                resolved = System.getProperty(reference.substring("system:".length()));
            } else {
                resolved = conf != null && conf.contains(reference) ? conf.get(reference) : null;
            }
            m.appendReplacement(out, Matcher.quoteReplacement(resolved != null ? resolved : m.group()));
        }
        m.appendTail(out);
        return out.toString();
    }
}
