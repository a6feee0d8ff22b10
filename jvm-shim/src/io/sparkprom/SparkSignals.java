package io.sparkprom;

import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.Properties;
import org.apache.spark.executor.TaskMetrics;
import org.apache.spark.scheduler.JobFailed;
import org.apache.spark.scheduler.SparkListenerApplicationEnd;
import org.apache.spark.scheduler.SparkListenerApplicationStart;
import org.apache.spark.scheduler.SparkListenerEvent;
import org.apache.spark.scheduler.SparkListenerExecutorAdded;
import org.apache.spark.scheduler.SparkListenerExecutorRemoved;
import org.apache.spark.scheduler.SparkListenerJobEnd;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerStageCompleted;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.scheduler.SparkListenerTaskStart;
import org.apache.spark.scheduler.StageInfo;

/**
 * What the driver's listener bus tells about the application, folded into bounded series: jobs
 * and stages by key with their outcomes and durations, per-stage totals of the task metrics,
 * task outcomes by reason, executor removals by reason, skew per completed stage, the
 * application's start and end; Structured Streaming queries through {@link StreamingSignals}.
 * State is kept per live job and stage only and folded into
 * {@link SignalTable} when it completes. The family names are an interface (dashboards, alerts):
 * native/src/signals.rs declares each with its labels, and a test holds the two together.
 *
 * <p>Events come on the listener's own queue thread, reports on the reporter thread: every
 * method is synchronized, and each holds the lock for microseconds.
 */
final class SparkSignals {
    static final String JOBS = "spark_jobs_total";
    static final String JOB_DURATION = "spark_job_duration_seconds";
    static final String STAGES = "spark_stages_total";
    static final String STAGE_DURATION = "spark_stage_duration_seconds";
    static final String TASK_DURATION = "spark_stage_task_duration_seconds";
    static final String SKEW = "spark_stage_task_skew_ratio";
    static final String TASKS = "spark_tasks_total";
    static final String EXECUTORS_ADDED = "spark_executors_added_total";
    static final String EXECUTORS_REMOVED = "spark_executors_removed_total";
    static final String JOBS_RUNNING = "spark_jobs_running";
    static final String JOB_RUNNING_LONGEST = "spark_job_running_longest_seconds";
    static final String STAGES_RUNNING = "spark_stages_running";
    static final String STAGE_RUNNING_LONGEST = "spark_stage_running_longest_seconds";
    static final String APP_START = "spark_application_start_time_seconds";
    static final String APP_END = "spark_application_end_time_seconds";
    static final String KEYS_FOLDED = "sparkprom_listener_keys_folded_total";
    static final String EVENTS = "sparkprom_listener_events_total";
    static final String CPU = "sparkprom_listener_cpu_seconds_total";
    static final String LIVE_STATE = "sparkprom_listener_live_state";
    static final String EVICTED = "sparkprom_listener_state_evicted_total";
    private static final java.lang.management.ThreadMXBean THREADS =
            java.lang.management.ManagementFactory.getThreadMXBean();

    /** Per-stage totals of the tasks' metrics: family, and which TaskMetrics figure in which unit. */
    static final String[] STAGE_TOTALS = {
        "spark_stage_executor_run_time_seconds_total",
        "spark_stage_executor_cpu_time_seconds_total",
        "spark_stage_jvm_gc_time_seconds_total",
        "spark_stage_deserialize_time_seconds_total",
        "spark_stage_input_bytes_total",
        "spark_stage_input_records_total",
        "spark_stage_output_bytes_total",
        "spark_stage_output_records_total",
        "spark_stage_shuffle_read_bytes_total",
        "spark_stage_shuffle_read_records_total",
        "spark_stage_shuffle_fetch_wait_seconds_total",
        "spark_stage_shuffle_write_bytes_total",
        "spark_stage_shuffle_write_records_total",
        "spark_stage_shuffle_write_time_seconds_total",
        "spark_stage_memory_spilled_bytes_total",
        "spark_stage_disk_spilled_bytes_total",
        "spark_stage_failed_tasks_total",
        "spark_stage_retried_tasks_total",
    };
    private static final int FAILED_TASKS = 16;
    private static final int RETRIED_TASKS = 17;

    static final SignalTable.Buckets JOB_DURATION_BUCKETS =
            new SignalTable.Buckets(0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400);
    static final SignalTable.Buckets STAGE_DURATION_BUCKETS = JOB_DURATION_BUCKETS;
    static final SignalTable.Buckets TASK_DURATION_BUCKETS =
            new SignalTable.Buckets(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800);
    static final SignalTable.Buckets SKEW_BUCKETS = new SignalTable.Buckets(1.5, 2, 3, 5, 10, 20, 50, 100);
    /** Fewer successful tasks than this say nothing about skew: no ratio for the stage. */
    static final int MIN_TASKS_FOR_SKEW = 10;
    /** Distinct failure reasons (exception classes mostly) with a value of their own. */
    static final int MAX_REASONS = 30;
    /**
     * Most running jobs, and most running stage attempts, the listener holds. Spark drops events
     * from a full queue, ends included: a job or stage whose end was dropped would be held (and
     * looked at) forever. Real applications run tens at once; past this the oldest is let go and
     * counted in {@value #EVICTED}.
     */
    static final int MAX_LIVE = 1_000;

    private final SignalTable table = new SignalTable();
    private final KeyBudget jobKeys;
    private final KeyBudget stageKeys;
    private final KeyBudget reasons = new KeyBudget(MAX_REASONS);
    /** Running jobs by id, the oldest first. */
    private final LinkedHashMap<Integer, Job> jobs = new LinkedHashMap<Integer, Job>();
    /** The running jobs each stage id belongs to (a shuffle stage can be several jobs'). */
    private final Map<Integer, List<Job>> jobsOfStage = new HashMap<Integer, List<Job>>();
    /** Running stage attempts, the oldest first. */
    private final LinkedHashMap<Long, Stage> stages = new LinkedHashMap<Long, Stage>();
    private long jobsEvicted;
    private long stagesEvicted;
    /** Job keys, and job-and-stage label pairs, that have had running work: their gauges go on at 0. */
    private final Set<String> runningJobKeys = new LinkedHashSet<String>();
    private final Map<String, String[]> runningStageKeys = new LinkedHashMap<String, String[]>();
    /** The outcome of the last job that succeeded or failed (cancelled ones left out); null before one. */
    private String lastJobOutcome;
    private long events;
    /** The thread events come on (the listener's own bus queue), for its CPU time; -1 before the first. */
    private long eventThread = -1;
    /** Made at the first Structured Streaming event (its classes are spark-sql's). */
    private StreamingSignals streaming;

    /** A running job: its key, its start, and its stages (to count the skipped ones at its end). */
    private static final class Job {
        final int id;
        final String key;
        final long startMillis;
        final int[] stageIds;
        final String[] stageNames;
        final boolean[] submitted;

        Job(int id, String key, long startMillis, int[] stageIds, String[] stageNames) {
            this.id = id;
            this.key = key;
            this.startMillis = startMillis;
            this.stageIds = stageIds;
            this.stageNames = stageNames;
            this.submitted = new boolean[stageIds.length];
        }
    }

    /**
     * A running stage attempt: its labels, its start and what its tasks added up to since it was
     * last folded into the series. Its end can come before its tasks' (a cancelled job's stage
     * ends at once, its killed tasks after; so do a stage's losing speculative copies): such a
     * stage stays, completed, until its last running task has ended, and each late task is folded
     * in as it ends, so the totals equal Spark's own.
     */
    private static final class Stage {
        final String[] labels;
        final long startMillis;
        final long[] totals = new long[STAGE_TOTALS.length];
        TaskDurations durations = new TaskDurations(TASK_DURATION_BUCKETS);
        /** Tasks started and not ended yet. */
        int running;
        /** Its end came; it waits for its running tasks. */
        boolean completed;

        Stage(String[] labels, long startMillis) {
            this.labels = labels;
            this.startMillis = startMillis;
        }
    }

    /** @param maxKeys distinct job keys, and distinct job-and-stage keys, with a value of their own */
    SparkSignals(int maxKeys) {
        jobKeys = new KeyBudget(maxKeys);
        stageKeys = new KeyBudget(maxKeys);
        for (String label : new String[] {"spark_job", "stage", "reason"}) {
            table.touch(KEYS_FOLDED, label);
        }
        table.touch(JOBS, KeyBudget.OTHER, "failed");
        table.touch(EXECUTORS_ADDED);
        for (String kind : new String[] {"jobs", "stages"}) {
            table.touch(EVICTED, kind);
        }
    }

    /** The application's start, when the listener came too late for its start event. */
    synchronized void applicationStarted(long millis) {
        table.set(APP_START, millis / 1000.0);
    }

    synchronized void onEvent(SparkListenerEvent event) {
        events++;
        if (eventThread < 0) {
            eventThread = Thread.currentThread().getId();
        }
        if (event instanceof SparkListenerTaskEnd) {
            onTaskEnd((SparkListenerTaskEnd) event);
        } else if (event instanceof SparkListenerTaskStart) {
            SparkListenerTaskStart start = (SparkListenerTaskStart) event;
            Stage stage = stages.get(stageKey(start.stageId(), start.stageAttemptId()));
            if (stage != null) {
                stage.running++;
            }
        } else if (event instanceof SparkListenerStageSubmitted) {
            SparkListenerStageSubmitted e = (SparkListenerStageSubmitted) event;
            onStageSubmitted(e.stageInfo(), e.properties());
        } else if (event instanceof SparkListenerStageCompleted) {
            onStageCompleted(((SparkListenerStageCompleted) event).stageInfo());
        } else if (event instanceof SparkListenerJobStart) {
            onJobStart((SparkListenerJobStart) event);
        } else if (event instanceof SparkListenerJobEnd) {
            onJobEnd((SparkListenerJobEnd) event);
        } else if (event instanceof SparkListenerExecutorAdded) {
            // Local mode announces the driver as its executor: count executor JVMs only, so
            // added - removed is the number that should be delivering metrics of their own.
            if (!isDriver(((SparkListenerExecutorAdded) event).executorId())) {
                table.add(EXECUTORS_ADDED, 1);
            }
        } else if (event instanceof SparkListenerExecutorRemoved) {
            SparkListenerExecutorRemoved removed = (SparkListenerExecutorRemoved) event;
            if (!isDriver(removed.executorId())) {
                table.add(EXECUTORS_REMOVED, 1, FailureReasons.executorRemoved(removed.reason()));
            }
        } else if (event instanceof SparkListenerApplicationStart) {
            table.set(APP_START, ((SparkListenerApplicationStart) event).time() / 1000.0);
        } else if (event instanceof SparkListenerApplicationEnd) {
            SparkListenerApplicationEnd e = (SparkListenerApplicationEnd) event;
            table.set(APP_END, e.time() / 1000.0, applicationOutcome(e, lastJobOutcome));
        } else if (StreamingSignals.isStreamingEvent(event)) {
            if (streaming == null) {
                streaming = new StreamingSignals(table);
            }
            streaming.onEvent(event);
        }
    }

    private void onJobStart(SparkListenerJobStart event) {
        List<StageInfo> infos = stageInfos(event);
        int[] ids = new int[infos.size()];
        String[] names = new String[infos.size()];
        String resultStage = null;
        int highest = -1;
        for (int i = 0; i < ids.length; i++) {
            ids[i] = infos.get(i).stageId();
            names[i] = infos.get(i).name();
            // The result stage is the job's last: its name is the call site of the action.
            if (ids[i] > highest) {
                highest = ids[i];
                resultStage = names[i];
            }
        }
        String key = jobKeys.admit(KeyBudget.jobKey(event.properties(), resultStage));
        Job job = new Job(event.jobId(), key, event.time(), ids, names);
        jobs.put(event.jobId(), job);
        for (int id : ids) {
            List<Job> of = jobsOfStage.get(id);
            if (of == null) {
                of = new ArrayList<Job>(1);
                jobsOfStage.put(id, of);
            }
            of.add(job);
        }
        runningJobKeys.add(key);
        if (jobs.size() > MAX_LIVE) {
            forgetJob(jobs.values().iterator().next());
            jobsEvicted++;
        }
    }

    /** Lets a job go: its end came, or will never come (evicted). */
    private void forgetJob(Job job) {
        jobs.remove(job.id);
        for (int id : job.stageIds) {
            List<Job> of = jobsOfStage.get(id);
            if (of != null && of.remove(job) && of.isEmpty()) {
                jobsOfStage.remove(id);
            }
        }
    }

    private void onJobEnd(SparkListenerJobEnd event) {
        Job job = jobs.get(event.jobId());
        if (job != null) {
            forgetJob(job);
        }
        String key = job == null ? "unknown" : job.key;
        String outcome = jobOutcome(event);
        table.add(JOBS, 1, key, outcome);
        if (!outcome.equals("cancelled")) {
            lastJobOutcome = outcome;
        }
        if (job == null) {
            return;
        }
        table.observe(JOB_DURATION, JOB_DURATION_BUCKETS, Math.max(0, event.time() - job.startMillis) / 1000.0, key);
        for (int i = 0; i < job.stageIds.length; i++) {
            if (!job.submitted[i]) {
                // As Spark's UI counts them: a stage of the job that did not run in it.
                String[] labels = stageLabels(key, job.stageNames[i]);
                table.add(STAGES, 1, labels[0], labels[1], "skipped");
            }
        }
    }

    /**
     * succeeded, failed, or cancelled: a job Spark ended because it was cancelled (a job group or
     * tag cancelled from a notebook's cancel button or an orchestrator, a stopped stream's jobs,
     * jobs cut short as the SparkContext stops) did not fail, and must not page as a failure.
     */
    private static String jobOutcome(SparkListenerJobEnd event) {
        if (!(event.jobResult() instanceof JobFailed)) {
            return "succeeded";
        }
        Exception e = ((JobFailed) event.jobResult()).exception();
        return FailureReasons.isCancellation(e == null ? null : e.getMessage()) ? "cancelled" : "failed";
    }

    private void onStageSubmitted(StageInfo info, Properties properties) {
        String jobKey = null;
        List<Job> of = jobsOfStage.get(info.stageId());
        for (Job job : of == null ? java.util.Collections.<Job>emptyList() : of) {
            for (int i = 0; i < job.stageIds.length; i++) {
                if (job.stageIds[i] == info.stageId()) {
                    job.submitted[i] = true;
                }
            }
            jobKey = job.key;
        }
        if (jobKey == null) {
            jobKey = jobKeys.admit(KeyBudget.jobKey(properties, info.name()));
        }
        long started = info.submissionTime().isDefined() ? (Long) info.submissionTime().get() : System.currentTimeMillis();
        String[] labels = stageLabels(jobKey, info.name());
        stages.put(stageKey(info.stageId(), info.attemptNumber()), new Stage(labels, started));
        runningStageKeys.put(labels[0] + "\u0000" + labels[1], labels);
        if (stages.size() > MAX_LIVE) {
            Iterator<Stage> oldest = stages.values().iterator();
            oldest.next();
            oldest.remove();
            stagesEvicted++;
        }
    }

    private String[] stageLabels(String jobKey, String stageName) {
        String stage = KeyBudget.stageKey(stageName);
        String admitted = stageKeys.admit(jobKey + "\u0000" + stage);
        // Past the budget both labels fold: one "other" pair, not one per job key.
        return admitted == KeyBudget.OTHER ? new String[] {KeyBudget.OTHER, KeyBudget.OTHER} : new String[] {jobKey, stage};
    }

    private static long stageKey(int stageId, int attempt) {
        return ((long) stageId << 32) | (attempt & 0xFFFFFFFFL);
    }

    private void onTaskEnd(SparkListenerTaskEnd event) {
        String outcome = FailureReasons.taskOutcome(event.reason());
        String reason = FailureReasons.taskReason(event.reason());
        table.add(TASKS, 1, outcome, reason.equals("none") ? reason : reasons.admit(reason));
        Stage stage = stages.get(stageKey(event.stageId(), event.stageAttemptId()));
        if (stage == null) {
            return; // a stage that began before the listener: its totals are not known whole
        }
        if (!outcome.equals("succeeded")) {
            stage.totals[FAILED_TASKS]++;
        } else if (event.taskInfo() != null) {
            stage.durations.add(event.taskInfo().duration());
        }
        // A speculative copy also has an attempt number above 0, but it is no retry: nothing failed.
        if (event.taskInfo() != null && event.taskInfo().attemptNumber() > 0 && !event.taskInfo().speculative()) {
            stage.totals[RETRIED_TASKS]++;
        }
        TaskMetrics m = event.taskMetrics();
        if (m != null) {
            addTaskMetrics(stage.totals, m);
        }
        stage.running = Math.max(0, stage.running - 1);
        if (stage.completed) {
            fold(stage, false);
            if (stage.running == 0) {
                stages.remove(stageKey(event.stageId(), event.stageAttemptId()));
            }
        }
    }

    /** As Spark's status store sums them for a stage (failed tasks' metrics included). */
    private static void addTaskMetrics(long[] t, TaskMetrics m) {
        t[0] += m.executorRunTime();
        t[1] += m.executorCpuTime();
        t[2] += m.jvmGCTime();
        t[3] += m.executorDeserializeTime();
        t[4] += m.inputMetrics().bytesRead();
        t[5] += m.inputMetrics().recordsRead();
        t[6] += m.outputMetrics().bytesWritten();
        t[7] += m.outputMetrics().recordsWritten();
        t[8] += m.shuffleReadMetrics().totalBytesRead();
        t[9] += m.shuffleReadMetrics().recordsRead();
        t[10] += m.shuffleReadMetrics().fetchWaitTime();
        t[11] += m.shuffleWriteMetrics().bytesWritten();
        t[12] += m.shuffleWriteMetrics().recordsWritten();
        t[13] += m.shuffleWriteMetrics().writeTime();
        t[14] += m.memoryBytesSpilled();
        t[15] += m.diskBytesSpilled();
    }

    /** Factor from each total's TaskMetrics unit to the family's base unit. */
    private static final double[] TOTAL_FACTORS = {
        1e-3, 1e-9, 1e-3, 1e-3, 1, 1, 1, 1, 1, 1, 1e-3, 1, 1, 1e-9, 1, 1, 1, 1,
    };

    private void onStageCompleted(StageInfo info) {
        long id = stageKey(info.stageId(), info.attemptNumber());
        Stage stage = stages.get(id);
        if (stage == null) {
            stage = new Stage(stageLabels(jobKeys.admit(KeyBudget.jobKey(null, info.name())), info.name()), 0);
        }
        String job = stage.labels[0];
        String key = stage.labels[1];
        String outcome = !info.failureReason().isDefined() ? "succeeded"
                : FailureReasons.isCancellation(info.failureReason().get()) ? "cancelled" : "failed";
        table.add(STAGES, 1, job, key, outcome);
        if (info.submissionTime().isDefined() && info.completionTime().isDefined()) {
            long millis = (Long) info.completionTime().get() - (Long) info.submissionTime().get();
            table.observe(STAGE_DURATION, STAGE_DURATION_BUCKETS, Math.max(0, millis) / 1000.0, job, key);
        }
        fold(stage, true);
        stage.completed = true;
        if (stage.running == 0) {
            stages.remove(id);
        }
    }

    /**
     * Adds what a stage's tasks added up to since the last fold to its series, and starts again
     * from 0; {@code whole}: at the stage's end, when its skew is judged on all its tasks.
     */
    private void fold(Stage stage, boolean whole) {
        String job = stage.labels[0];
        String key = stage.labels[1];
        for (int i = 0; i < STAGE_TOTALS.length; i++) {
            if (stage.totals[i] != 0 || whole) {
                table.add(STAGE_TOTALS[i], stage.totals[i] * TOTAL_FACTORS[i], job, key);
            }
            stage.totals[i] = 0;
        }
        foldTaskDurations(stage.durations, whole, job, key);
        stage.durations = new TaskDurations(TASK_DURATION_BUCKETS);
    }

    private void foldTaskDurations(TaskDurations d, boolean whole, String job, String key) {
        if (d.count() == 0) {
            return;
        }
        double[] bounds = TASK_DURATION_BUCKETS.bounds;
        for (int i = 0; i < bounds.length; i++) {
            table.add(TASK_DURATION + "_bucket", d.atOrUnder(i), job, key, TASK_DURATION_BUCKETS.les[i]);
        }
        table.add(TASK_DURATION + "_bucket", d.count(), job, key, "+Inf");
        table.add(TASK_DURATION + "_sum", d.sumSeconds(), job, key);
        table.add(TASK_DURATION + "_count", d.count(), job, key);
        if (whole && d.count() >= MIN_TASKS_FOR_SKEW) {
            table.observe(SKEW, SKEW_BUCKETS, d.skewRatio(), job, key);
        }
    }

    /**
     * {@code succeeded} or {@code failed} from the exit code Spark 4 gives the end event. Spark 3's
     * end event has none: {@code failed} when the last job that succeeded or failed (cancelled ones
     * aside, such as those cut short as the context stops) failed, else {@code unknown}: a failure
     * alert then exists on Spark 3 platforms too (Databricks 14-16, EMR 7), and a success is not
     * claimed where nothing says so.
     */
    static String applicationOutcome(SparkListenerApplicationEnd event, String lastJobOutcome) {
        try {
            Method exitCode = event.getClass().getMethod("exitCode");
            scala.Option<?> code = (scala.Option<?>) exitCode.invoke(event);
            if (code.isDefined()) {
                return ((Number) code.get()).intValue() == 0 ? "succeeded" : "failed";
            }
        } catch (ReflectiveOperationException | RuntimeException noExitCode) {
            // Spark 3.x
        }
        return "failed".equals(lastJobOutcome) ? "failed" : "unknown";
    }

    /**
     * The job's stages. The accessor returns scala.collection.Seq on Scala 2.12 (Spark 3) and
     * scala.collection.immutable.Seq on 2.13 (Spark 4): a direct call compiled against one
     * fails to link on the other, so it is looked up by name and walked as an Iterable, which
     * both have.
     */
    private static List<StageInfo> stageInfos(SparkListenerJobStart event) {
        List<StageInfo> out = new ArrayList<StageInfo>();
        try {
            Object seq = SparkListenerJobStart.class.getMethod("stageInfos").invoke(event);
            scala.collection.Iterator<?> it = ((scala.collection.Iterable<?>) seq).iterator();
            while (it.hasNext()) {
                out.add((StageInfo) it.next());
            }
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            // Without them no stage is counted as skipped; everything else still works.
            noteStageInfosFailed(e);
        }
        return out;
    }

    private static volatile boolean stageInfosFailedLogged;

    private static void noteStageInfosFailed(Throwable e) {
        if (!stageInfosFailedLogged) {
            stageInfosFailedLogged = true;
            org.slf4j.LoggerFactory.getLogger(SparkSignals.class).warn("sparkprom: cannot read a job's stages (" + e
                    + "); skipped stages are not counted and jobs are keyed without their call site. Report this"
                    + " line with your Spark version.");
        }
    }

    /** Writes every series (definitions first where new); under the lock events take. */
    synchronized void encode(ByteBuffer b) {
        setRunning(System.currentTimeMillis());
        table.set(LIVE_STATE, jobs.size(), "jobs");
        table.set(LIVE_STATE, stages.size(), "stages");
        table.set(EVICTED, jobsEvicted, "jobs");
        table.set(EVICTED, stagesEvicted, "stages");
        table.set(KEYS_FOLDED, jobKeys.folded(), "spark_job");
        table.set(KEYS_FOLDED, stageKeys.folded(), "stage");
        table.set(KEYS_FOLDED, reasons.folded(), "reason");
        table.set(EVENTS, events);
        // What the listener costs, measured where it runs: its queue thread's CPU time (Spark's
        // dispatch to it included). A JVM without thread CPU time gives -1: no series then.
        long cpuNanos = eventThread < 0 ? -1 : THREADS.getThreadCpuTime(eventThread);
        if (cpuNanos >= 0) {
            table.set(CPU, cpuNanos / 1e9);
        }
        table.encode(b);
    }

    /**
     * Running jobs and stage attempts by key, and how long the oldest of each has run: what is
     * stuck shows while it runs, not only once it ends. A key that ran once keeps its series (at 0).
     */
    private void setRunning(long now) {
        Map<String, long[]> byJob = new HashMap<String, long[]>();
        for (Job job : jobs.values()) {
            count(byJob, job.key, job.startMillis);
        }
        for (String key : runningJobKeys) {
            long[] c = byJob.get(key);
            table.set(JOBS_RUNNING, c == null ? 0 : c[0], key);
            table.set(JOB_RUNNING_LONGEST, c == null ? 0 : Math.max(0, now - c[1]) / 1000.0, key);
        }
        Map<String, long[]> byStage = new HashMap<String, long[]>();
        for (Stage stage : stages.values()) {
            if (!stage.completed) {
                count(byStage, stage.labels[0] + "\u0000" + stage.labels[1], stage.startMillis);
            }
        }
        for (Map.Entry<String, String[]> e : runningStageKeys.entrySet()) {
            long[] c = byStage.get(e.getKey());
            String[] labels = e.getValue();
            table.set(STAGES_RUNNING, c == null ? 0 : c[0], labels[0], labels[1]);
            table.set(STAGE_RUNNING_LONGEST, c == null ? 0 : Math.max(0, now - c[1]) / 1000.0, labels[0], labels[1]);
        }
    }

    /** Counts one running item of a key and keeps the earliest start: {count, earliest}. */
    private static void count(Map<String, long[]> counts, String key, long startMillis) {
        long[] c = counts.get(key);
        if (c == null) {
            counts.put(key, new long[] {1, startMillis});
        } else {
            c[0]++;
            c[1] = Math.min(c[1], startMillis);
        }
    }

    synchronized void forgetDefinitions() {
        table.forgetDefinitions();
    }

    /** For checks: one series' value, NaN when it does not exist. */
    synchronized double valueOf(String name, String... labelValues) {
        return table.valueOf(name, labelValues);
    }

    /** Live jobs and stages held: bounded by what runs at once. */
    synchronized int liveState() {
        return jobs.size() + stages.size();
    }

    synchronized int seriesCount() {
        return table.size();
    }

    private static boolean isDriver(String executorId) {
        return "driver".equals(executorId);
    }
}
