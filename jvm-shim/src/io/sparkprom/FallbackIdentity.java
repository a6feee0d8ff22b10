package io.sparkprom;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a JVM can tell of its Spark identity without a SparkEnv, for the rare JVM whose SparkEnv
 * cannot be read (a Spark whose classes do not link, or a SparkEnv that never came): the executor
 * id and app id from the executor's command line ({@code --executor-id}, {@code --app-id}, as every
 * cluster manager starts executors) or Kubernetes' {@code SPARK_EXECUTOR_ID} and
 * {@code SPARK_APPLICATION_ID}, and the metrics namespace from the registry's own names, which
 * Spark builds as {@code <namespace>.<executorId>.<source>}. The app name cannot be learnt.
 */
final class FallbackIdentity {
    /**
     * Prefixes of the names Spark's standalone daemons register: they have no app identity. The
     * native core's identity.rs lists the same (its test reads this array).
     */
    private static final String[] DAEMON_SOURCES = {"master.", "worker.", "application.", "shuffleService.",
        "applicationMaster."};

    /** The identity pairs learnt, in {@link SparkIdentity#current()}'s form; some may be missing. */
    final Map<String, String> identity;
    /** The identity fields that could not be learnt, for the warning. */
    final List<String> missing;
    /** True for a standalone daemon (master, worker, ...), which has no app identity to miss. */
    final boolean daemon;

    private FallbackIdentity(Map<String, String> identity, List<String> missing, boolean daemon) {
        this.identity = identity;
        this.missing = missing;
        this.daemon = daemon;
    }

    /**
     * Learns what it can from {@code command} (the JVM's main class and arguments) and the names.
     * Only an executor backend's arguments are read, told by the {@code --driver-url spark://...}
     * every cluster manager gives it: in a driver or any other JVM the arguments are the user's
     * ({@code job.py --app-id 42}) and mean nothing here.
     */
    static FallbackIdentity learn(String command, Map<String, String> env, Collection<String> registryNames) {
        String backend = isExecutorBackend(command) ? command : "";
        String executorId = firstNonEmpty(argument(backend, "--executor-id"), env.get("SPARK_EXECUTOR_ID"));
        String appId = firstNonEmpty(argument(backend, "--app-id"), env.get("SPARK_APPLICATION_ID"));
        if (executorId.isEmpty() && !prefixBefore(registryNames, "driver").isEmpty()) {
            executorId = "driver";
        }
        String namespace = executorId.isEmpty() ? "" : prefixBefore(registryNames, executorId);
        boolean daemon = executorId.isEmpty() && (isDaemon(registryNames) || isDaemonCommand(command));
        Map<String, String> identity = new LinkedHashMap<String, String>();
        List<String> missing = new ArrayList<String>();
        putOrMiss(identity, missing, "app_id", appId);
        putOrMiss(identity, missing, "app_name", "");
        putOrMiss(identity, missing, "executor_id", executorId);
        putOrMiss(identity, missing, "namespace", namespace);
        SparkIdentity.addPlatformLabels(identity, null);
        if (daemon) {
            // The core then counts no identity field as missing: a daemon has no app.
            identity.put("daemon", "true");
        }
        return new FallbackIdentity(identity, missing, daemon);
    }

    /** For this JVM: its command line (the {@code sun.java.command} property) and environment. */
    static FallbackIdentity learn(Collection<String> registryNames) {
        return learn(System.getProperty("sun.java.command", ""), System.getenv(), registryNames);
    }

    /** What the series look like with this identity, for the warning. */
    String consequence() {
        String names = identity.containsKey("namespace") && identity.containsKey("executor_id")
                ? "names without ids" : "Spark's whole metric names (the app id inside them)";
        String labels = labelsText();
        return "series go out with " + names + (labels.isEmpty() ? "" : " and " + labels)
                + "; missing: " + join(missing);
    }

    private String labelsText() {
        StringBuilder out = new StringBuilder();
        for (String key : new String[] {"app_id", "executor_id"}) {
            if (identity.containsKey(key)) {
                out.append(out.length() == 0 ? "" : ", ").append(key).append("=\"").append(identity.get(key)).append('"');
            }
        }
        return out.toString();
    }

    static String join(List<String> items) {
        StringBuilder out = new StringBuilder();
        for (String item : items) {
            out.append(out.length() == 0 ? "" : ", ").append(item);
        }
        return out.toString();
    }

    /** The main classes of Spark's standalone daemons, whose JVMs never have a SparkEnv. */
    private static final String[] DAEMON_MAIN_CLASSES = {"org.apache.spark.deploy.master.Master",
        "org.apache.spark.deploy.worker.Worker", "org.apache.spark.deploy.ExternalShuffleService",
        "org.apache.spark.deploy.history.HistoryServer"};

    /** Whether the JVM's main class is one of Spark's standalone daemons. */
    static boolean isDaemonCommand(String command) {
        String main = command.trim().split("\\s+")[0];
        for (String daemon : DAEMON_MAIN_CLASSES) {
            if (main.equals(daemon)) {
                return true;
            }
        }
        return false;
    }

    /** This JVM's main class is one of Spark's standalone daemons. */
    static boolean thisJvmIsADaemon() {
        return isDaemonCommand(System.getProperty("sun.java.command", ""));
    }

    /** Whether the command line is an executor backend's: it names the driver to register with. */
    static boolean isExecutorBackend(String command) {
        return argument(command, "--driver-url").startsWith("spark://");
    }

    /** The value after {@code flag} in a space-separated command line; "" if absent. */
    static String argument(String command, String flag) {
        String[] words = command.trim().split("\\s+");
        for (int i = 0; i + 1 < words.length; i++) {
            if (words[i].equals(flag)) {
                return words[i + 1];
            }
        }
        return "";
    }

    /**
     * The namespace that stands before {@code .<executorId>.} in most registry names; "" if none.
     * The most common one is taken because a source name could itself contain the executor id.
     */
    static String prefixBefore(Collection<String> names, String executorId) {
        String marker = "." + executorId + ".";
        Map<String, Integer> counts = new HashMap<String, Integer>();
        String best = "";
        int bestCount = 0;
        for (String name : names) {
            int at = name.indexOf(marker);
            if (at <= 0) {
                continue;
            }
            String prefix = name.substring(0, at);
            Integer seen = counts.get(prefix);
            int count = seen == null ? 1 : seen + 1;
            counts.put(prefix, count);
            if (count > bestCount) {
                best = prefix;
                bestCount = count;
            }
        }
        return best;
    }

    private static boolean isDaemon(Collection<String> names) {
        for (String name : names) {
            for (String source : DAEMON_SOURCES) {
                if (name.startsWith(source)) {
                    return true;
                }
            }
        }
        return false;
    }

    private static void putOrMiss(Map<String, String> identity, List<String> missing, String key, String value) {
        if (value.isEmpty()) {
            missing.add(key);
        } else {
            identity.put(key, value);
        }
    }

    private static String firstNonEmpty(String a, String b) {
        return a != null && !a.trim().isEmpty() ? a.trim() : b == null ? "" : b.trim();
    }
}
