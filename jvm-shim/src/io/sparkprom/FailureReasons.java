package io.sparkprom;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.spark.ExceptionFailure;
import org.apache.spark.TaskEndReason;

/**
 * Folds Spark's task-end reasons and executor-removal messages into a small set of label values
 * (documented in docs/metrics-reference.md), so a failure's kind is a label and its text is not.
 */
final class FailureReasons {
    private FailureReasons() {}

    /**
     * Whether a job's or stage's failure text says it was cancelled rather than failed: Spark's
     * own words for a cancelled job ("Job 5 cancelled part of cancelled job group ...", "... as
     * part of cancellation of all jobs", "... because SparkContext was shut down"; Spark 4 puts
     * an error class in front) or stage ("Stage cancelled because ...", "... was cancelled"). A
     * stage that aborted on task failures says "Job aborted due to stage failure" first, whatever
     * its task's exception says after it.
     */
    static boolean isCancellation(String failure) {
        if (failure == null || failure.startsWith("Job aborted")) {
            return false;
        }
        String f = failure.toLowerCase(Locale.ROOT);
        return f.contains("cancelled") || f.contains("canceled");
    }

    /** A task's outcome as Spark's status store counts it (so totals match its REST API). */
    static String taskOutcome(TaskEndReason reason) {
        String kind = reason == null ? "" : reason.getClass().getSimpleName();
        if (kind.startsWith("Success")) {
            return "succeeded";
        }
        // AppStatusListener.onTaskEnd counts TaskKilled and TaskCommitDenied as killed.
        if (kind.equals("TaskKilled") || kind.equals("TaskCommitDenied")) {
            return "killed";
        }
        return "failed";
    }

    /** Spark's TaskEndReason classes (Scala objects without their $) and the reason each becomes. */
    private static final Map<String, String> TASK_FAILURE_KINDS = new HashMap<String, String>();

    static {
        TASK_FAILURE_KINDS.put("Success", "none");
        TASK_FAILURE_KINDS.put("FetchFailed", "fetch_failed");
        TASK_FAILURE_KINDS.put("ExecutorLostFailure", "executor_lost");
        TASK_FAILURE_KINDS.put("TaskKilled", "killed");
        TASK_FAILURE_KINDS.put("TaskCommitDenied", "commit_denied");
        TASK_FAILURE_KINDS.put("TaskResultLost", "result_lost");
        TASK_FAILURE_KINDS.put("Resubmitted", "resubmitted");
    }

    /**
     * Why a task did not succeed: the exception's class for an exception, else the kind of
     * failure (fetch_failed, executor_lost, killed, commit_denied, result_lost, resubmitted,
     * unknown); {@code none} for a success.
     */
    static String taskReason(TaskEndReason reason) {
        if (reason instanceof ExceptionFailure) {
            return ((ExceptionFailure) reason).className();
        }
        String kind = reason == null ? "" : reason.getClass().getSimpleName().replace("$", "");
        String folded = TASK_FAILURE_KINDS.get(kind);
        return folded == null ? "unknown" : folded;
    }

    private static final Pattern EXIT_CODE = Pattern.compile("exit(?:ed)?(?: with)?(?: exit)? (?:code|status):? ?(\\d{1,3})\\b",
            Pattern.CASE_INSENSITIVE);
    /** SparkExitCode.OOM: the executor's JVM caught an OutOfMemoryError and exited. */
    private static final int SPARK_OOM_EXIT = 52;

    /**
     * Why an executor was removed, from the message Spark gives: killed_by_driver,
     * heartbeat_timeout, decommissioned, oom (the JVM ran out of heap, or the platform says the
     * container exceeded its memory), sigkill (exit code 137: most often the kernel's or
     * Kubernetes' OOM killer), sigterm (143), exit_code_N (any other exit code), disconnected
     * (the executor's connection dropped before anything else was known), worker_lost, unknown.
     */
    static String executorRemoved(String message) {
        String m = message == null ? "" : message.toLowerCase(Locale.ROOT);
        if (m.contains("killed by driver")) {
            return "killed_by_driver";
        }
        if (m.contains("heartbeat")) {
            return "heartbeat_timeout";
        }
        if (m.contains("decommission")) {
            return "decommissioned";
        }
        Matcher exit = EXIT_CODE.matcher(m);
        Integer code = exit.find() ? Integer.valueOf(exit.group(1)) : null;
        // Sure signs first; Kubernetes' "137(SIGKILL, possible container OOM)" is only a guess.
        if (m.contains("outofmemory") || m.contains("out of memory") || m.contains("oomkilled")
                || m.contains("exceeding memory limits") || (code != null && code == SPARK_OOM_EXIT)) {
            return "oom";
        }
        if (code != null) {
            return code == 137 ? "sigkill" : code == 143 ? "sigterm" : "exit_code_" + code;
        }
        if (m.contains("oom")) {
            return "oom";
        }
        if (m.contains("disassociated") || m.contains("disconnected")) {
            return "disconnected";
        }
        if (m.contains("worker") && m.contains("lost")) {
            return "worker_lost";
        }
        return "unknown";
    }
}
