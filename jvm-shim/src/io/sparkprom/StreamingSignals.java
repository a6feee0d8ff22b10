package io.sparkprom;

import java.time.Instant;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.apache.spark.scheduler.SparkListenerEvent;
import org.apache.spark.sql.streaming.SourceProgress;
import org.apache.spark.sql.streaming.StateOperatorProgress;
import org.apache.spark.sql.streaming.StreamingQueryListener;
import org.apache.spark.sql.streaming.StreamingQueryProgress;

/**
 * Structured Streaming queries, from the events their listener bus also posts to Spark's
 * listener bus (so no StreamingQueryListener has to be registered on a session, and
 * {@code spark.sql.streaming.metricsEnabled} is not needed): per query, labelled with its name
 * or else its id, the last micro-batch's figures, and when the query ends its series end too
 * (stale markers, their slots given back). Loaded only when a streaming event arrives, so a JVM
 * without spark-sql never links it. Called under {@link SparkSignals}' lock.
 */
final class StreamingSignals {
    static final String EVENT_CLASS_PREFIX = "org.apache.spark.sql.streaming.StreamingQueryListener$";
    static final String QUERIES = "spark_streaming_queries_total";
    static final String BATCHES = "spark_streaming_batches_total";
    static final String QUERY_START = "spark_streaming_query_start_time_seconds";
    static final String BATCH_DURATION = "spark_streaming_batch_duration_seconds";
    static final String PHASE_DURATION = "spark_streaming_batch_phase_duration_seconds";
    static final String INPUT_ROWS = "spark_streaming_input_rows_total";
    static final String INPUT_RATE = "spark_streaming_input_rows_per_second";
    static final String PROCESSED_RATE = "spark_streaming_processed_rows_per_second";
    static final String LAST_PROGRESS = "spark_streaming_last_progress_time_seconds";
    static final String WATERMARK_LAG = "spark_streaming_watermark_lag_seconds";
    static final String STATE_ROWS = "spark_streaming_state_rows";
    static final String STATE_MEMORY = "spark_streaming_state_memory_bytes";
    static final String STATE_DROPPED = "spark_streaming_state_rows_dropped_by_watermark_total";
    static final String SOURCE_BEHIND = "spark_streaming_source_offsets_behind_latest";
    static final String SOURCE_FILES_OUTSTANDING = "spark_streaming_source_outstanding_files";
    static final String SOURCE_BYTES_OUTSTANDING = "spark_streaming_source_outstanding_bytes";
    /**
     * The backlogs sources report in their progress metrics (ReportsSourceMetrics), by the
     * family each goes to: Kafka's offsets behind (its worst partition), Delta's files and
     * bytes not yet read.
     */
    private static final String[][] SOURCE_BACKLOGS = {
        {"maxOffsetsBehindLatest", SOURCE_BEHIND},
        {"numFilesOutstanding", SOURCE_FILES_OUTSTANDING},
        {"numBytesOutstanding", SOURCE_BYTES_OUTSTANDING},
    };

    /**
     * How long a query reads no rows before its rates drop to 0: Spark's own idle-progress
     * interval (spark.sql.streaming.noDataProgressEventInterval's default).
     */
    static final long IDLE_AFTER_MS = 10_000;

    /** The families whose first label is the query: they end with it. */
    private static final Set<String> PER_QUERY = new HashSet<String>(java.util.Arrays.asList(BATCHES, QUERY_START,
            BATCH_DURATION,
            PHASE_DURATION, INPUT_ROWS, INPUT_RATE, PROCESSED_RATE, LAST_PROGRESS, WATERMARK_LAG, STATE_ROWS,
            STATE_MEMORY, STATE_DROPPED, SOURCE_BEHIND, SOURCE_FILES_OUTSTANDING, SOURCE_BYTES_OUTSTANDING));

    private final SignalTable table;
    /** The query label of each running query, by run id. */
    private final Map<UUID, String> running = new HashMap<UUID, String>();
    /** When each running query's last batch that read rows was triggered, by query label. */
    private final Map<String, Long> lastRowsAt = new HashMap<String, Long>();

    StreamingSignals(SignalTable table) {
        this.table = table;
        table.touch(QUERIES, "started");
        table.touch(QUERIES, "failed");
    }

    /** Whether an event is one of Structured Streaming's (by name: spark-sql may be absent). */
    static boolean isStreamingEvent(SparkListenerEvent event) {
        return event.getClass().getName().startsWith(EVENT_CLASS_PREFIX);
    }

    void onEvent(SparkListenerEvent event) {
        if (event instanceof StreamingQueryListener.QueryStartedEvent) {
            StreamingQueryListener.QueryStartedEvent e = (StreamingQueryListener.QueryStartedEvent) event;
            String query = queryLabel(e.name(), e.id());
            running.put(e.runId(), query);
            table.add(QUERIES, 1, "started");
            // Seen from its start, not from its first progress (which comes when its first batch
            // ends): a query stuck in its first batch, or stopped before it, shows with 0 batches.
            table.touch(BATCHES, query);
            Instant started = instant(e.timestamp());
            table.set(QUERY_START, (started == null ? System.currentTimeMillis() : started.toEpochMilli()) / 1000.0,
                    query);
        } else if (event instanceof StreamingQueryListener.QueryProgressEvent) {
            onProgress(((StreamingQueryListener.QueryProgressEvent) event).progress());
        } else if (event instanceof StreamingQueryListener.QueryTerminatedEvent) {
            StreamingQueryListener.QueryTerminatedEvent e = (StreamingQueryListener.QueryTerminatedEvent) event;
            String query = running.remove(e.runId());
            table.add(QUERIES, 1, e.exception().isDefined() ? "failed" : "stopped");
            if (query != null) {
                lastRowsAt.remove(query);
                table.endSeries(PER_QUERY, query);
            }
        }
    }

    /**
     * Whether a progress event is a batch that ran: it wrote to its sink ({@code addBatch}), which
     * an idle trigger's progress (no new data: only latestOffset and triggerExecution) does not.
     */
    static boolean ranABatch(StreamingQueryProgress p) {
        return p.durationMs() != null && p.durationMs().containsKey("addBatch");
    }

    /** The query's name when it has one (names are unique among running queries), else its id. */
    private static String queryLabel(String name, UUID id) {
        return name != null && !name.trim().isEmpty() ? KeyBudget.shorten(name) : id.toString();
    }

    private void onProgress(StreamingQueryProgress p) {
        String query = running.get(p.runId());
        if (query == null) {
            // A query that started before the listener: learn it from its progress.
            query = queryLabel(p.name(), p.id());
            running.put(p.runId(), query);
        }
        // A trigger that found no new data reports progress too (at once, then every 10 s): only a
        // batch that ran counts, and only it has a batch's duration and phases.
        if (!ranABatch(p)) {
            Instant idle = instant(p.timestamp());
            if (idle != null) {
                table.set(LAST_PROGRESS, idle.toEpochMilli() / 1000.0, query);
            }
            onRates(query, p, idle == null ? System.currentTimeMillis() : idle.toEpochMilli());
            return;
        }
        table.add(BATCHES, 1, query);
        table.set(BATCH_DURATION, p.batchDuration() / 1000.0, query);
        if (p.durationMs() != null) {
            for (Map.Entry<String, Long> phase : p.durationMs().entrySet()) {
                if (phase.getValue() != null) {
                    table.set(PHASE_DURATION, phase.getValue() / 1000.0, query, KeyBudget.shorten(phase.getKey()));
                }
            }
        }
        table.add(INPUT_ROWS, p.numInputRows(), query);
        Instant trigger = instant(p.timestamp());
        onRates(query, p, trigger == null ? System.currentTimeMillis() : trigger.toEpochMilli());
        if (trigger != null) {
            table.set(LAST_PROGRESS, trigger.toEpochMilli() / 1000.0, query);
            Instant watermark = p.eventTime() == null ? null : instant(p.eventTime().get("watermark"));
            // Before the first late-enough event the watermark is the epoch: no lag to speak of yet.
            if (watermark != null && watermark.toEpochMilli() > 0) {
                table.set(WATERMARK_LAG, (trigger.toEpochMilli() - watermark.toEpochMilli()) / 1000.0, query);
            }
        }
        onStateOperators(query, p.stateOperators());
        onSources(query, p.sources());
    }

    /**
     * A batch that read no rows (the no-data batch Spark runs right after a data batch to move a
     * watermark, or an idle trigger) has rates of 0: taken as they come, most reports of a query
     * with a watermark would show 0 rows/s and hide its throughput (and the falling-behind alert).
     * So such a batch leaves the rates of the last batch that read rows, until the query has read
     * nothing for {@link #IDLE_AFTER_MS}: then it is idle and its rates are 0.
     */
    private void onRates(String query, StreamingQueryProgress p, long triggeredAtMs) {
        if (p.numInputRows() > 0) {
            lastRowsAt.put(query, triggeredAtMs);
        } else {
            Long rowsAt = lastRowsAt.get(query);
            if (rowsAt != null && triggeredAtMs - rowsAt < IDLE_AFTER_MS) {
                return;
            }
        }
        setIfFinite(INPUT_RATE, p.inputRowsPerSecond(), query);
        setIfFinite(PROCESSED_RATE, p.processedRowsPerSecond(), query);
    }

    private void onStateOperators(String query, StateOperatorProgress[] operators) {
        if (operators == null) {
            return;
        }
        Set<String> seen = new HashSet<String>();
        for (int i = 0; i < operators.length; i++) {
            String name = operators[i].operatorName();
            String operator = name == null || name.isEmpty() ? "operator" : name;
            if (!seen.add(operator)) {
                operator = operator + "#" + i; // two operators of one kind in one query
                seen.add(operator);
            }
            table.set(STATE_ROWS, operators[i].numRowsTotal(), query, operator);
            table.set(STATE_MEMORY, operators[i].memoryUsedBytes(), query, operator);
            table.add(STATE_DROPPED, operators[i].numRowsDroppedByWatermark(), query, operator);
        }
    }

    private void onSources(String query, SourceProgress[] sources) {
        if (sources == null) {
            return;
        }
        for (SourceProgress source : sources) {
            Map<String, String> metrics = source.metrics();
            if (metrics == null) {
                continue;
            }
            for (String[] backlog : SOURCE_BACKLOGS) {
                String value = metrics.get(backlog[0]);
                if (value == null) {
                    continue;
                }
                try {
                    table.set(backlog[1], Double.parseDouble(value), query, KeyBudget.shorten(source.description()));
                } catch (NumberFormatException notANumber) {
                    // a source that reports something else under that name: nothing to send
                }
            }
        }
    }

    private void setIfFinite(String name, double value, String query) {
        if (!Double.isNaN(value) && !Double.isInfinite(value)) {
            table.set(name, value, query);
        }
    }

    private static Instant instant(String iso) {
        if (iso == null) {
            return null;
        }
        try {
            return Instant.parse(iso);
        } catch (RuntimeException notIso) {
            return null;
        }
    }
}
