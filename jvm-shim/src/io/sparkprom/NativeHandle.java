package io.sparkprom;

import com.codahale.metrics.MetricRegistry;
import java.util.Map;

/**
 * Owns one native sink handle and releases it exactly once. Reports and the release are
 * serialised on one lock; the slow part of the release (the final flush) runs after the handle
 * is cleared, outside the lock, so a concurrent report never waits for the network.
 */
final class NativeHandle {
    private final Object lock = new Object();
    private final SnapshotEncoder encoder = new SnapshotEncoder(64 * 1024);
    private long handle;

    NativeHandle(long handle) {
        this.handle = handle;
    }

    /** Packs the registry and hands it over; false once closed. */
    boolean report(MetricRegistry registry, Map<String, String> identity) {
        return report(registry, identity, null);
    }

    /** The same, with the driver listener's series ({@code signals}, null where there are none). */
    boolean report(MetricRegistry registry, Map<String, String> identity, SparkSignals signals) {
        synchronized (lock) {
            if (handle == 0) {
                return false;
            }
            encoder.setIdentity(identity);
            encoder.setSignals(signals);
            int length = encoder.encode(registry, System.currentTimeMillis());
            int status = NativeCore.report(handle, encoder.buffer(), length);
            if (status == NativeCore.DROPPED_RESEND_NAMES) {
                encoder.resetNames();
            }
            return status != NativeCore.CLOSED;
        }
    }

    /** Final flush within {@code flushMillis} (negative: the configured flushTimeout), then release. */
    void close(long flushMillis) {
        long released;
        synchronized (lock) {
            released = handle;
            handle = 0;
        }
        if (released != 0) {
            NativeCore.close(released, flushMillis);
        }
    }

    /** Names whose ids the encoder holds: the live registry's, once names that left are gone. */
    int definedNames() {
        synchronized (lock) {
            return encoder.definedNames();
        }
    }

    boolean isOpen() {
        synchronized (lock) {
            return handle != 0;
        }
    }
}
