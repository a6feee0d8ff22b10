package io.sparkprom;

import static io.sparkprom.Checks.check;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import org.apache.spark.Success$;
import org.apache.spark.executor.TaskMetrics;
import org.apache.spark.scheduler.JobSucceeded$;
import org.apache.spark.scheduler.SparkListenerExecutorAdded;
import org.apache.spark.scheduler.SparkListenerExecutorRemoved;
import org.apache.spark.scheduler.SparkListenerJobEnd;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerStageCompleted;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.scheduler.StageInfo;
import org.apache.spark.scheduler.TaskInfo;
import org.apache.spark.scheduler.TaskLocality$;
import org.apache.spark.sql.streaming.SinkProgress;
import org.apache.spark.sql.streaming.SourceProgress;
import org.apache.spark.sql.streaming.StateOperatorProgress;
import org.apache.spark.sql.streaming.StreamingQueryListener;
import org.apache.spark.sql.streaming.StreamingQueryProgress;

/**
 * Unit checks of the listener's own logic, fed with Spark 3.4's event classes (the jars the shim
 * is compiled against) without a SparkContext: job keys and their masks, the key budget, the
 * folding of executor-removal messages, the skew sketch, histogram buckets, skipped stages, a
 * streaming query's rates across no-data batches, and the series bound over 1,000 jobs with unique
 * descriptions.
 */
public final class SignalsCheck {
    public static void main(String[] args) {
        check("a job group keeps short numbers and masks dates, ids and long numbers", () ->
                show(KeyBudget.jobKey(props("spark.jobGroup.id", "nightly-2026-12-01"), null),
                        KeyBudget.jobKey(props("spark.jobGroup.id", "tpch q17 run 20261201"), null),
                        KeyBudget.jobKey(props("spark.jobGroup.id", "load 3f2a9c1e-77aa-4b1c-9d2e-0123456789ab"), null))
                && KeyBudget.jobKey(props("spark.jobGroup.id", "nightly-2026-12-01"), null).equals("nightly-<date>")
                        && KeyBudget.jobKey(props("spark.jobGroup.id", "tpch q17 run 20261201"), null)
                                .equals("tpch q17 run <n>")
                        && KeyBudget.jobKey(props("spark.jobGroup.id", "load 3f2a9c1e-77aa-4b1c-9d2e-0123456789ab"),
                                null).equals("load <id>"));
        check("a description masks every number; a call site is kept; whitespace folds; 80 characters at most", () ->
                KeyBudget.jobKey(props("spark.job.description", "batch 12 of\n 3"), null).equals("batch <n> of <n>")
                        && KeyBudget.jobKey(props("callSite.short", "count at etl.py:42"), null)
                                .equals("count at etl.py:42")
                        && KeyBudget.jobKey(null, "collect at x.py:7").equals("collect at x.py:7")
                        && KeyBudget.jobKey(null, null).equals("unknown")
                        && KeyBudget.jobKey(props("spark.job.description", repeat("select a from t ", 20)), null)
                                .length() == KeyBudget.MAX_LENGTH);
        check("the key budget gives the first keys their own value and folds the rest, counted", () -> {
            KeyBudget budget = new KeyBudget(2);
            return budget.admit("a").equals("a") && budget.admit("b").equals("b") && budget.admit("a").equals("a")
                    && budget.admit("c").equals("other") && budget.admit("d").equals("other") && budget.folded() == 2;
        });
        check("executor removals fold to their reason", () -> {
            String[][] cases = {
                {"Executor killed by driver.", "killed_by_driver"},
                {"Command exited with code 137", "sigkill"},
                {"The executor with id 3 exited with exit code 137(SIGKILL, possible container OOM).", "sigkill"},
                {"Container killed by YARN for exceeding memory limits. 5.5 GB of 5.5 GB physical memory used.", "oom"},
                {"Command exited with code 52", "oom"},
                {"Command exited with code 143", "sigterm"},
                {"Command exited with code 1", "exit_code_1"},
                {"Executor heartbeat timed out after 120000 ms", "heartbeat_timeout"},
                {"Executor decommission: spot instance is being reclaimed", "decommissioned"},
                {"Remote RPC client disassociated. Likely due to containers exceeding thresholds, or network issues.",
                    "disconnected"},
                {"Worker lost", "worker_lost"},
                {"something new", "unknown"},
            };
            boolean ok = true;
            for (String[] c : cases) {
                String got = FailureReasons.executorRemoved(c[0]);
                if (!got.equals(c[1])) {
                    System.out.println("  '" + c[0] + "' -> " + got + ", expected " + c[1]);
                    ok = false;
                }
            }
            return ok;
        });
        check("task end reasons fold to their outcome and kind", () ->
                FailureReasons.taskReason(Success$.MODULE$).equals("none")
                        && FailureReasons.taskOutcome(Success$.MODULE$).equals("succeeded")
                        && FailureReasons.taskReason(org.apache.spark.Resubmitted$.MODULE$).equals("resubmitted")
                        && FailureReasons.taskOutcome(org.apache.spark.Resubmitted$.MODULE$).equals("failed")
                        && FailureReasons.taskReason(org.apache.spark.TaskResultLost$.MODULE$).equals("result_lost")
                        && FailureReasons.taskReason(org.apache.spark.UnknownReason$.MODULE$).equals("unknown"));
        check("the skew sketch finds the median within 9% and the longest task exactly", () -> {
            TaskDurations d = new TaskDurations(SparkSignals.TASK_DURATION_BUCKETS);
            for (int i = 0; i < 19; i++) {
                d.add(200);
            }
            d.add(4_000);
            double median = d.medianMillis();
            return Math.abs(median - 200) <= 18 && d.maxMillis() == 4_000 && Math.abs(d.skewRatio() - 20) <= 2
                    && d.count() == 20 && d.atOrUnder(3) == 19 && d.atOrUnder(6) == 20;
        });
        check("a histogram observation fills each bucket at or above it, the sum and the count", () -> {
            SignalTable t = new SignalTable();
            SignalTable.Buckets b = new SignalTable.Buckets(0.5, 5);
            t.observe("h", b, 3, "x");
            return t.valueOf("h_bucket", "x", "0.5") == 0 && t.valueOf("h_bucket", "x", "5") == 1
                    && t.valueOf("h_bucket", "x", "+Inf") == 1 && t.valueOf("h_sum", "x") == 3
                    && t.valueOf("h_count", "x") == 1;
        });
        check("a job's stage that never ran in it is counted as skipped", () -> {
            SparkSignals s = new SparkSignals(50);
            StageInfo ran = stage(1, "collect at a.py:2");
            StageInfo reused = stage(0, "reduceByKey at a.py:1");
            s.onEvent(new SparkListenerJobStart(7, 1_000, seq(reused, ran), props("spark.jobGroup.id", "g")));
            runStage(s, ran, props("spark.jobGroup.id", "g"), 1);
            s.onEvent(new SparkListenerJobEnd(7, 3_000, JobSucceeded$.MODULE$));
            return s.valueOf(SparkSignals.STAGES, "g", "reduceByKey at a.py:1", "skipped") == 1
                    && s.valueOf(SparkSignals.STAGES, "g", "collect at a.py:2", "succeeded") == 1
                    && s.valueOf(SparkSignals.JOBS, "g", "succeeded") == 1 && s.liveState() == 0;
        });
        check("executors added and removed count executor JVMs, not local mode's driver", () -> {
            SparkSignals s = new SparkSignals(50);
            s.onEvent(new SparkListenerExecutorAdded(1L, "driver", null));
            s.onEvent(new SparkListenerExecutorAdded(2L, "1", null));
            s.onEvent(new SparkListenerExecutorAdded(3L, "2", null));
            s.onEvent(new SparkListenerExecutorRemoved(4L, "2", "Executor killed by driver."));
            s.onEvent(new SparkListenerExecutorRemoved(5L, "driver", "stopped"));
            return s.valueOf(SparkSignals.EXECUTORS_ADDED) == 2
                    && s.valueOf(SparkSignals.EXECUTORS_REMOVED, "killed_by_driver") == 1
                    && Double.isNaN(s.valueOf(SparkSignals.EXECUTORS_REMOVED, "unknown"));
        });
        check("a batch without rows keeps the last rates until the query has read nothing for 10 s", () -> {
            SparkSignals s = new SparkSignals(50);
            UUID id = UUID.randomUUID();
            UUID run = UUID.randomUUID();
            s.onEvent(new StreamingQueryListener.QueryStartedEvent(id, run, "w", "2026-12-02T00:00:00Z"));
            s.onEvent(progress(id, run, "2026-12-02T00:00:01.000Z", 100, 200, 1_000));
            // The no-data batch Spark runs right after, to move the watermark:
            s.onEvent(progress(id, run, "2026-12-02T00:00:01.300Z", 0, 0, 0));
            boolean kept = s.valueOf(StreamingSignals.INPUT_RATE, "w") == 200
                    && s.valueOf(StreamingSignals.PROCESSED_RATE, "w") == 1_000;
            s.onEvent(progress(id, run, "2026-12-02T00:00:11.000Z", 0, 0, 0));
            return kept && s.valueOf(StreamingSignals.INPUT_RATE, "w") == 0
                    && s.valueOf(StreamingSignals.PROCESSED_RATE, "w") == 0
                    && s.valueOf(StreamingSignals.INPUT_ROWS, "w") == 100;
        });
        check("1,000 jobs with unique descriptions and stage names stay within the documented series bound", () -> {
            int maxKeys = 50;
            SparkSignals s = new SparkSignals(maxKeys);
            for (int job = 0; job < 1_000; job++) {
                StageInfo only = stage(job, "step " + letters(job) + " at gen.py:1");
                Properties p = props("spark.job.description", "report for customer " + letters(job));
                s.onEvent(new SparkListenerJobStart(job, job, seq(only), p));
                runStage(s, only, p, 12);
                s.onEvent(new SparkListenerJobEnd(job, job + 1, JobSucceeded$.MODULE$));
            }
            // docs/metrics-reference.md, "How many series the listener sends".
            int bound = 17 * (maxKeys + 2) + 61 * (maxKeys + 2) + 3 * 32 + 13 + 2 + 5;
            int series = s.seriesCount();
            System.out.println("  " + series + " series (bound " + bound + ")");
            return series <= bound && s.liveState() == 0
                    && s.valueOf(SparkSignals.JOBS, "other", "succeeded") == 1_000 - maxKeys;
        });
        Checks.finish("listener signals");
    }

    private static void runStage(SparkSignals s, StageInfo info, Properties p, int tasks) {
        info.submissionTime_$eq(scala.Option.apply((Object) 1_000L));
        s.onEvent(new SparkListenerStageSubmitted(info, p));
        for (int t = 0; t < tasks; t++) {
            TaskInfo task = new TaskInfo(t, t, 0, t, 1_000, "1", "host", TaskLocality$.MODULE$.PROCESS_LOCAL(), false);
            task.finishTime_$eq(1_000 + 100 + t);
            s.onEvent(new SparkListenerTaskEnd(info.stageId(), 0, "ResultTask", Success$.MODULE$, task, null,
                    new TaskMetrics()));
        }
        info.completionTime_$eq(scala.Option.apply((Object) 2_000L));
        s.onEvent(new SparkListenerStageCompleted(info));
    }

    private static StreamingQueryListener.QueryProgressEvent progress(UUID id, UUID run, String at, long rows,
            double inputRate, double processedRate) {
        SourceProgress source = new SourceProgress("rate", "0", "1", "1", rows, inputRate, processedRate,
                Collections.<String, String>emptyMap());
        return new StreamingQueryListener.QueryProgressEvent(new StreamingQueryProgress(id, run, "w", at, 1, 10,
                Collections.<String, Long>emptyMap(), Collections.<String, String>emptyMap(),
                new StateOperatorProgress[0], new SourceProgress[] {source}, new SinkProgress("noop"),
                Collections.<String, org.apache.spark.sql.Row>emptyMap()));
    }

    private static StageInfo stage(int id, String name) {
        scala.collection.Seq<?> none = seq();
        return new StageInfo(id, 0, name, 1, cast(none), cast(none), "", new TaskMetrics(), cast(none),
                scala.Option.empty(), 0, false, 0);
    }

    @SuppressWarnings("unchecked")
    private static <T> T cast(Object o) {
        return (T) o;
    }

    @SafeVarargs
    private static <T> scala.collection.Seq<T> seq(T... items) {
        List<T> list = items.length == 0 ? Collections.<T>emptyList() : Arrays.asList(items);
        return scala.collection.JavaConverters.asScalaBufferConverter(list).asScala().toSeq();
    }

    /** A unique name for n with no digit in it (descriptions mask digits). */
    private static String letters(int n) {
        StringBuilder b = new StringBuilder();
        do {
            b.append((char) ('a' + n % 26));
            n /= 26;
        } while (n > 0);
        return b.toString();
    }

    private static String repeat(String s, int n) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < n; i++) {
            b.append(s);
        }
        return b.toString();
    }

    private static boolean show(String... values) {
        System.out.println("  " + Arrays.toString(values));
        return true;
    }

    private static Properties props(String... kv) {
        Properties p = new Properties();
        for (int i = 0; i < kv.length; i += 2) {
            p.setProperty(kv[i], kv[i + 1]);
        }
        return p;
    }
}
