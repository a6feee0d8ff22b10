package io.sparkprom;

import java.nio.ByteBuffer;

/**
 * The native methods of libsparkprom.so (native/src/jni.rs). Nothing here may be called before
 * {@link NativeLibrary#load} succeeded.
 */
final class NativeCore {
    /** {@link #report} status: queued. */
    static final int ACCEPTED = 0;
    /** {@link #report} status: dropped; the next snapshot must define every name again. */
    static final int DROPPED_RESEND_NAMES = 1;
    /** {@link #report} status: the sink is closed. */
    static final int CLOSED = 2;

    private NativeCore() {}

    /**
     * Validates the sink's properties and starts its native threads.
     *
     * @param properties UTF-8 {@code key \0 value \0} pairs
     * @return the handle, released by {@link #close}
     * @throws IllegalArgumentException naming the property when one is invalid
     */
    static native long create(byte[] properties);

    /**
     * Checks the properties as {@link #create} would, starting nothing.
     *
     * @throws IllegalArgumentException naming the property when one is invalid
     */
    static native void validate(byte[] properties);

    /** Queues the first {@code length} bytes of a direct buffer; never waits on the network. */
    static native int report(long handle, ByteBuffer snapshot, int length);

    /** Pushes what is queued for at most {@code flushMillis} (negative: the configured time), then frees the handle. */
    static native void close(long handle, long flushMillis);

    static native String version();

    /**
     * The command-line check (native/src/check.rs): validates, resolves credentials, sends one
     * sample. First line {@code accepted} or {@code not accepted}, then one line per step.
     */
    static native String check(byte[] properties);
}
