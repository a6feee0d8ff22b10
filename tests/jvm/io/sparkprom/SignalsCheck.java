package io.sparkprom;

import static io.sparkprom.Checks.check;

import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import org.apache.spark.Success$;
import org.apache.spark.executor.TaskMetrics;
import org.apache.spark.scheduler.JobFailed;
import org.apache.spark.scheduler.JobSucceeded$;
import org.apache.spark.scheduler.SparkListenerApplicationEnd;
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
            s.onEvent(progress(id, run, "2026-12-02T00:00:11.000Z", 0, 0, 0, false)); // an idle trigger
            return kept && s.valueOf(StreamingSignals.INPUT_RATE, "w") == 0
                    && s.valueOf(StreamingSignals.BATCHES, "w") == 2
                    && s.valueOf(StreamingSignals.PROCESSED_RATE, "w") == 0
                    && s.valueOf(StreamingSignals.INPUT_ROWS, "w") == 100;
        });
        check("Kafka's and Delta's backlogs come from their progress metrics, as Spark's progress JSON has them", () -> {
            SparkSignals s = new SparkSignals(50);
            UUID id = UUID.randomUUID();
            UUID run = UUID.randomUUID();
            s.onEvent(new StreamingQueryListener.QueryStartedEvent(id, run, "ingest", "2026-12-02T00:00:00Z"));
            // The metrics maps of a KafkaMicroBatchStream and a DeltaSource (ReportsSourceMetrics),
            // copied from real progress events; the rate source reports none.
            java.util.Map<String, String> kafka = new java.util.HashMap<String, String>();
            kafka.put("avgOffsetsBehindLatest", "7250.5");
            kafka.put("maxOffsetsBehindLatest", "14501");
            kafka.put("minOffsetsBehindLatest", "0");
            java.util.Map<String, String> delta = new java.util.HashMap<String, String>();
            delta.put("numBytesOutstanding", "73400320");
            delta.put("numFilesOutstanding", "35");
            SourceProgress[] sources = {
                new SourceProgress("KafkaV2[Subscribe[events]]", "{}", "{}", "{}", 10, 1, 1, kafka),
                new SourceProgress("DeltaSource[s3://lake/events]", "{}", "{}", "{}", 10, 1, 1, delta),
                new SourceProgress("rate", "0", "1", "1", 10, 1, 1, Collections.<String, String>emptyMap()),
            };
            s.onEvent(progress(id, run, "2026-12-02T00:00:01.000Z", sources));
            return s.valueOf(StreamingSignals.SOURCE_BEHIND, "ingest", "KafkaV2[Subscribe[events]]") == 14_501
                    && s.valueOf(StreamingSignals.SOURCE_FILES_OUTSTANDING, "ingest", "DeltaSource[s3://lake/events]") == 35
                    && s.valueOf(StreamingSignals.SOURCE_BYTES_OUTSTANDING, "ingest", "DeltaSource[s3://lake/events]")
                        == 73_400_320
                    && Double.isNaN(s.valueOf(StreamingSignals.SOURCE_BEHIND, "ingest", "DeltaSource[s3://lake/events]"))
                    && Double.isNaN(s.valueOf(StreamingSignals.SOURCE_FILES_OUTSTANDING, "ingest", "rate"));
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
            int bound = 20 * (maxKeys + 2) + 64 * (maxKeys + 2) + 3 * 32 + 13 + 2 + 9;
            int series = s.seriesCount();
            System.out.println("  " + series + " series (bound " + bound + ")");
            return series <= bound && s.liveState() == 0
                    && s.valueOf(SparkSignals.JOBS, "other", "succeeded") == 1_000 - maxKeys;
        });
        check("tasks that end after their stage (a cancelled job's killed tasks) are still counted in it", () -> {
            SparkSignals s = new SparkSignals(50);
            Properties g = props("spark.jobGroup.id", "late");
            StageInfo info = stage(9, "slow at l.py:4");
            info.submissionTime_$eq(scala.Option.apply((Object) 1_000L));
            s.onEvent(new SparkListenerStageSubmitted(info, g));
            TaskInfo[] tasks = new TaskInfo[2];
            for (int t = 0; t < 2; t++) {
                tasks[t] = new TaskInfo(t, t, 0, t, 1_000, "1", "host", TaskLocality$.MODULE$.PROCESS_LOCAL(), false);
                s.onEvent(new org.apache.spark.scheduler.SparkListenerTaskStart(9, 0, tasks[t]));
            }
            info.failureReason_$eq(scala.Option.apply("Job 1 cancelled part of cancelled job group late"));
            info.completionTime_$eq(scala.Option.apply((Object) 2_000L));
            s.onEvent(new SparkListenerStageCompleted(info));
            boolean waiting = s.liveState() == 1;
            for (TaskInfo t : tasks) {
                t.finishTime_$eq(9_000);
                TaskMetrics m = new TaskMetrics();
                m.setExecutorRunTime(8_000);
                s.onEvent(new SparkListenerTaskEnd(9, 0, "ResultTask",
                        new org.apache.spark.TaskKilled("cancelled", null, null, null), t, null, m));
            }
            return waiting && s.liveState() == 0
                    && s.valueOf("spark_stage_executor_run_time_seconds_total", "late", "slow at l.py:4") == 16
                    && s.valueOf("spark_stage_failed_tasks_total", "late", "slow at l.py:4") == 2
                    && s.valueOf(SparkSignals.STAGES, "late", "slow at l.py:4", "cancelled") == 1;
        });
        check("a cancelled job and its stages end as cancelled; an aborted stage as failed", () -> {
            SparkSignals s = new SparkSignals(50);
            Properties g = props("spark.jobGroup.id", "g");
            StageInfo cancelled = stage(1, "collect at a.py:2");
            s.onEvent(new SparkListenerJobStart(3, 1_000, seq(cancelled), g));
            s.onEvent(new SparkListenerStageSubmitted(cancelled, g));
            cancelled.failureReason_$eq(scala.Option.apply("Job 3 cancelled part of cancelled job group g"));
            s.onEvent(new SparkListenerStageCompleted(cancelled));
            s.onEvent(new SparkListenerJobEnd(3, 2_000,
                    new JobFailed(new Exception("Job 3 cancelled part of cancelled job group g"))));
            StageInfo aborted = stage(2, "count at a.py:9");
            s.onEvent(new SparkListenerJobStart(4, 3_000, seq(aborted), g));
            s.onEvent(new SparkListenerStageSubmitted(aborted, g));
            aborted.failureReason_$eq(scala.Option.apply("Job aborted due to stage failure: Task 0 failed 4 times,"
                    + " most recent failure: java.util.concurrent.CancellationException: cancelled by user code"));
            s.onEvent(new SparkListenerStageCompleted(aborted));
            s.onEvent(new SparkListenerJobEnd(4, 4_000, new JobFailed(new Exception(
                    "Job aborted due to stage failure: ... CancellationException: cancelled by user code"))));
            return s.valueOf(SparkSignals.JOBS, "g", "cancelled") == 1 && s.valueOf(SparkSignals.JOBS, "g", "failed") == 1
                    && s.valueOf(SparkSignals.STAGES, "g", "collect at a.py:2", "cancelled") == 1
                    && Double.isNaN(s.valueOf(SparkSignals.STAGES, "g", "collect at a.py:2", "failed"))
                    && s.valueOf(SparkSignals.STAGES, "g", "count at a.py:9", "failed") == 1
                    && FailureReasons.isCancellation("[SPARK_JOB_CANCELLED] Job 7 cancelled because SparkContext was"
                            + " shut down SQLSTATE: XXKDA")
                    && FailureReasons.isCancellation("Stage cancelled because SparkContext was shut down");
        });
        check("a speculative copy is not counted as a retry; a second attempt after a failure is", () -> {
            SparkSignals s = new SparkSignals(50);
            Properties g = props("spark.jobGroup.id", "spec");
            StageInfo info = stage(5, "map at s.py:1");
            info.submissionTime_$eq(scala.Option.apply((Object) 1_000L));
            s.onEvent(new SparkListenerStageSubmitted(info, g));
            TaskInfo speculative = new TaskInfo(1, 0, 1, 0, 1_000, "2", "host", TaskLocality$.MODULE$.PROCESS_LOCAL(), true);
            TaskInfo retry = new TaskInfo(2, 1, 1, 1, 1_000, "2", "host", TaskLocality$.MODULE$.PROCESS_LOCAL(), false);
            for (TaskInfo t : new TaskInfo[] {speculative, retry}) {
                t.finishTime_$eq(1_500);
                s.onEvent(new SparkListenerTaskEnd(5, 0, "ResultTask", Success$.MODULE$, t, null, new TaskMetrics()));
            }
            info.completionTime_$eq(scala.Option.apply((Object) 2_000L));
            s.onEvent(new SparkListenerStageCompleted(info));
            return s.valueOf("spark_stage_retried_tasks_total", "spec", "map at s.py:1") == 1;
        });
        check("Spark 3's end event has no exit code: a last failed job makes the application failed", () ->
                SparkSignals.applicationOutcome(new SparkListenerApplicationEnd(9_000L), "failed").equals("failed")
                        && SparkSignals.applicationOutcome(new SparkListenerApplicationEnd(9_000L), "succeeded")
                                .equals("unknown")
                        && SparkSignals.applicationOutcome(new SparkListenerApplicationEnd(9_000L), null).equals("unknown"));
        check("Databricks workflow jobs keep their job id, their runs are masked; pipelines keep theirs", () -> {
            String a = KeyBudget.jobKey(props("spark.jobGroup.id",
                    "7436281942939628785_6781957016537366917_job-1043946484838386-run-28366155-action-4793233224183946"), null);
            String b = KeyBudget.jobKey(props("spark.jobGroup.id",
                    "1136281942939628785_2281957016537366917_job-1043946484838386-run-99966155-action-1193233224183946"), null);
            String other = KeyBudget.jobKey(props("spark.jobGroup.id",
                    "7436281942939628785_6781957016537366917_job-555-run-28366155-action-4793233224183946"), null);
            String dlt = KeyBudget.jobKey(props("spark.jobGroup.id",
                    "7436281942939628785_6781957016537366917_dlt-3f2a9c1e-77aa-4b1c-9d2e-0123456789ab"), null);
            show(a, other, dlt);
            return a.equals("<n>_<n>_job-1043946484838386-run-<n>-action-<n>") && a.equals(b) && !a.equals(other)
                    && dlt.equals("<n>_<n>_dlt-3f2a9c1e-77aa-4b1c-9d2e-0123456789ab");
        });
        check("running jobs and stages show by key with their age while they run, 0 after", () -> {
            SparkSignals s = new SparkSignals(50);
            Properties g = props("spark.jobGroup.id", "hung");
            StageInfo info = stage(6, "save at h.py:3");
            long started = System.currentTimeMillis() - 90_000;
            s.onEvent(new SparkListenerJobStart(8, started, seq(info), g));
            info.submissionTime_$eq(scala.Option.apply((Object) started));
            s.onEvent(new SparkListenerStageSubmitted(info, g));
            s.encode(java.nio.ByteBuffer.allocate(1 << 16));
            boolean running = s.valueOf(SparkSignals.JOBS_RUNNING, "hung") == 1
                    && s.valueOf(SparkSignals.JOB_RUNNING_LONGEST, "hung") >= 90
                    && s.valueOf(SparkSignals.STAGES_RUNNING, "hung", "save at h.py:3") == 1
                    && s.valueOf(SparkSignals.STAGE_RUNNING_LONGEST, "hung", "save at h.py:3") >= 90;
            info.completionTime_$eq(scala.Option.apply((Object) System.currentTimeMillis()));
            s.onEvent(new SparkListenerStageCompleted(info));
            s.onEvent(new SparkListenerJobEnd(8, System.currentTimeMillis(), JobSucceeded$.MODULE$));
            s.encode(java.nio.ByteBuffer.allocate(1 << 16));
            return running && s.valueOf(SparkSignals.JOBS_RUNNING, "hung") == 0
                    && s.valueOf(SparkSignals.JOB_RUNNING_LONGEST, "hung") == 0
                    && s.valueOf(SparkSignals.STAGES_RUNNING, "hung", "save at h.py:3") == 0;
        });
        check("jobs and stages whose ends Spark dropped are let go past 1,000 and counted", () -> {
            SparkSignals s = new SparkSignals(50);
            long began = System.nanoTime();
            for (int job = 0; job < 5_000; job++) {
                StageInfo info = stage(job, "stage at j.py:1");
                Properties p = props("spark.jobGroup.id", "leak");
                s.onEvent(new SparkListenerJobStart(job, job, seq(info), p));
                s.onEvent(new SparkListenerStageSubmitted(info, p)); // no ends: Spark dropped them
            }
            double millis = (System.nanoTime() - began) / 1e6;
            s.encode(java.nio.ByteBuffer.allocate(1 << 16));
            System.out.println("  5,000 leaked jobs in " + (long) millis + " ms");
            return s.liveState() == 2 * SparkSignals.MAX_LIVE
                    && s.valueOf(SparkSignals.EVICTED, "jobs") == 4_000 && s.valueOf(SparkSignals.EVICTED, "stages") == 4_000
                    && s.valueOf(SparkSignals.LIVE_STATE, "jobs") == SparkSignals.MAX_LIVE;
        });
        check("a streaming query is seen from its start: 0 batches and its start time", () -> {
            SparkSignals s = new SparkSignals(50);
            s.onEvent(new StreamingQueryListener.QueryStartedEvent(UUID.randomUUID(), UUID.randomUUID(), "stuck",
                    "2026-12-02T00:00:00Z"));
            return s.valueOf(StreamingSignals.BATCHES, "stuck") == 0
                    && s.valueOf(StreamingSignals.QUERY_START, "stuck") == 1_796_169_600.0;
        });
        check("a series ended and made again before the next report goes on: no end, no definition", () -> {
            SignalTable t = new SignalTable();
            t.add("spark_streaming_batches_total", 5, "q");
            encode(t);
            t.endSeries(Collections.singleton("spark_streaming_batches_total"), "q");
            t.add("spark_streaming_batches_total", 1, "q"); // restarted under its name
            List<String> r = encode(t);
            return r.equals(Arrays.asList("VALUE 0 6.0"));
        });
        check("a query's last batch, counted just before it stopped, is sent before its end", () -> {
            SignalTable t = new SignalTable();
            t.add("spark_streaming_batches_total", 5, "q");
            encode(t);
            t.add("spark_streaming_batches_total", 1, "q");
            t.endSeries(Collections.singleton("spark_streaming_batches_total"), "q");
            List<String> last = encode(t);
            List<String> ended = encode(t);
            show(last.toString(), ended.toString());
            return last.equals(Arrays.asList("VALUE 0 6.0")) && ended.equals(Arrays.asList("END 0"));
        });
        check("a counter made again after its end went out goes on from its value, not from 0", () -> {
            SignalTable t = new SignalTable();
            t.add("spark_streaming_batches_total", 5, "q");
            t.set("spark_streaming_batch_duration_seconds", 2, "q");
            encode(t);
            t.endSeries(new java.util.HashSet<String>(Arrays.asList("spark_streaming_batches_total",
                    "spark_streaming_batch_duration_seconds")), "q");
            encode(t); // their last values
            List<String> ended = encode(t);
            t.add("spark_streaming_batches_total", 1, "q");
            t.set("spark_streaming_batch_duration_seconds", 3, "q");
            List<String> again = encode(t);
            show(ended.toString(), again.toString());
            return ended.equals(Arrays.asList("END 0", "END 1"))
                    && again.contains("DEFINE 1 GOES_ON spark_streaming_batches_total [q]") && again.contains("VALUE 1 6.0")
                    && again.contains("DEFINE 0 NEW spark_streaming_batch_duration_seconds [q]")
                    && again.contains("VALUE 0 3.0");
        });
        check("a names reset defines every live series again as one that goes on, and drops the pending ends", () -> {
            SignalTable t = new SignalTable();
            t.add("spark_jobs_total", 1, "load", "failed");
            t.add("spark_streaming_batches_total", 4, "q");
            encode(t);
            t.endSeries(Collections.singleton("spark_streaming_batches_total"), "q");
            encode(t); // its last value; its end is pending
            t.forgetDefinitions();
            List<String> r = encode(t);
            show(r.toString());
            return r.equals(Arrays.asList("DEFINE 0 NEW spark_jobs_total [load, failed]", "VALUE 0 1.0"));
        });
        check("an encoding cut short by a full buffer marks nothing as sent", () -> {
            SignalTable t = new SignalTable();
            t.add("spark_jobs_total", 1, "a-rather-long-job-key-that-does-not-fit", "failed");
            boolean overflowed = false;
            try {
                t.encode(java.nio.ByteBuffer.allocate(20));
            } catch (java.nio.BufferOverflowException expected) {
                overflowed = true;
            }
            t.forgetDefinitions(); // what the encoder does after it
            return overflowed && encode(t).get(0).startsWith("DEFINE 0 NEW spark_jobs_total");
        });
        Checks.finish("listener signals");
    }

    /** One encoding of a table, record by record: "END id", "DEFINE id NEW|GOES_ON name [labels]", "VALUE id v". */
    private static List<String> encode(SignalTable t) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(1 << 16).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        t.encode(b);
        b.flip();
        List<String> out = new java.util.ArrayList<String>();
        while (b.hasRemaining()) {
            byte tag = b.get();
            int id = b.getInt();
            if (tag == SignalTable.SIGNAL_END) {
                out.add("END " + id);
            } else if (tag == SignalTable.SIGNAL_VALUE) {
                out.add("VALUE " + id + " " + b.getDouble());
            } else {
                boolean isNew = b.get() == SignalTable.SIGNAL_FLAG_NEW;
                String name = string(b);
                List<String> labels = new java.util.ArrayList<String>();
                for (int n = b.getShort(); n > 0; n--) {
                    labels.add(string(b));
                }
                out.add("DEFINE " + id + (isNew ? " NEW " : " GOES_ON ") + name + " " + labels);
            }
        }
        return out;
    }

    private static String string(java.nio.ByteBuffer b) {
        byte[] bytes = new byte[b.getShort()];
        b.get(bytes);
        return new String(bytes, java.nio.charset.StandardCharsets.UTF_8);
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

    /** A batch that ran (its phases include addBatch). */
    private static StreamingQueryListener.QueryProgressEvent progress(UUID id, UUID run, String at, long rows,
            double inputRate, double processedRate) {
        return progress(id, run, at, rows, inputRate, processedRate, true);
    }

    private static StreamingQueryListener.QueryProgressEvent progress(UUID id, UUID run, String at, long rows,
            double inputRate, double processedRate, boolean ran) {
        SourceProgress source = new SourceProgress("rate", "0", "1", "1", rows, inputRate, processedRate,
                Collections.<String, String>emptyMap());
        return progress(id, run, at, ran, new SourceProgress[] {source});
    }

    /** A batch that ran, reading `sources`. */
    private static StreamingQueryListener.QueryProgressEvent progress(UUID id, UUID run, String at,
            SourceProgress[] sources) {
        return progress(id, run, at, true, sources);
    }

    private static StreamingQueryListener.QueryProgressEvent progress(UUID id, UUID run, String at, boolean ran,
            SourceProgress[] sources) {
        java.util.Map<String, Long> phases = new java.util.HashMap<String, Long>();
        phases.put("triggerExecution", 5L);
        phases.put("latestOffset", 1L);
        if (ran) {
            phases.put("addBatch", 3L);
        }
        return new StreamingQueryListener.QueryProgressEvent(new StreamingQueryProgress(id, run, "w", at, 1, 10,
                phases, Collections.<String, String>emptyMap(),
                new StateOperatorProgress[0], sources, new SinkProgress("noop"),
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
