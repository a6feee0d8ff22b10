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

    /** The identity, or null while this JVM has no SparkEnv (yet, or ever: standalone daemons). */
    static Map<String, String> current() {
        try {
            Class<?> sparkEnv = Class.forName("org.apache.spark.SparkEnv");
            Object env = sparkEnv.getMethod("get").invoke(null);
            if (env == null) {
                return null;
            }
            Object conf = sparkEnv.getMethod("conf").invoke(env);
            Method get = conf.getClass().getMethod("get", String.class, String.class);
            String appId = (String) get.invoke(conf, "spark.app.id", "");
            String executorId = (String) get.invoke(conf, "spark.executor.id", "");
            if (executorId.isEmpty()) {
                executorId = (String) sparkEnv.getMethod("executorId").invoke(env);
            }
            String namespace = expand((String) get.invoke(conf, "spark.metrics.namespace", ""), conf, get);
            Map<String, String> identity = new LinkedHashMap<String, String>();
            identity.put("app_id", appId);
            identity.put("app_name", (String) get.invoke(conf, "spark.app.name", ""));
            identity.put("executor_id", executorId);
            // Spark's MetricsSystem uses the app id when no namespace is set.
            identity.put("namespace", namespace.isEmpty() ? appId : namespace);
            return identity;
        } catch (Throwable t) {
            return null;
        }
    }

    /** Spark substitutes ${key} in spark.metrics.namespace (e.g. ${spark.app.name}); so do we. */
    private static String expand(String value, Object conf, Method get) throws Exception {
        Matcher m = VARIABLE.matcher(value);
        StringBuffer out = new StringBuffer();
        while (m.find()) {
            String replacement = (String) get.invoke(conf, m.group(1), "");
            m.appendReplacement(out, Matcher.quoteReplacement(replacement));
        }
        m.appendTail(out);
        return out.toString();
    }
}
