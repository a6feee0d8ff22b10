package io.sparkprom;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Locale;

/**
 * Finds libsparkprom.so and loads it into this JVM. Looks, in order, at the path the caller gives,
 * then on {@code java.library.path}, then in the jar itself (release jars carry the library for
 * linux-x86_64 under {@link #RESOURCE_DIR}). Logs nothing: {@link NativeLibrary} logs for the
 * sink, {@link Main} prints for {@code --version}, which runs with the jar alone.
 */
final class NativeLoader {
    static final String FILE_NAME = "libsparkprom.so";
    /** Where a jar carries the library: {@code io/sparkprom/native/<os>-<arch>/libsparkprom.so}. */
    static final String RESOURCE_DIR = "io/sparkprom/native/";

    private NativeLoader() {}

    /**
     * Loads the library; callers make sure this runs once per JVM.
     *
     * @param explicitPath an absolute path to the .so, or null to search
     * @param extractDir where a copy from the jar is written before loading, or null for
     *     {@code java.io.tmpdir}
     * @return where the library was loaded from, for log lines
     * @throws UnsatisfiedLinkError when no copy is found or the one found cannot be loaded
     * @throws IOException when the jar's copy cannot be written out
     */
    static String load(String explicitPath, String extractDir) throws IOException {
        if (explicitPath != null) {
            System.load(explicitPath);
            return explicitPath;
        }
        File onLibraryPath = findOnLibraryPath();
        if (onLibraryPath != null) {
            System.load(onLibraryPath.getAbsolutePath());
            return onLibraryPath.getAbsolutePath();
        }
        String resource = RESOURCE_DIR + platform() + "/" + FILE_NAME;
        if (NativeLoader.class.getClassLoader().getResource(resource) == null) {
            throw new UnsatisfiedLinkError("no " + FILE_NAME + " on java.library.path ("
                    + System.getProperty("java.library.path") + ") and none for " + platform() + " in the jar");
        }
        loadFromJar(resource, extractDir);
        return "the jar (" + resource + ")";
    }

    /** The first {@code libsparkprom.so} in the directories of {@code java.library.path}, or null. */
    static File findOnLibraryPath() {
        String path = System.getProperty("java.library.path", "");
        for (String dir : path.split(File.pathSeparator)) {
            if (dir.isEmpty()) {
                continue;
            }
            File candidate = new File(dir, FILE_NAME);
            if (candidate.isFile()) {
                return candidate;
            }
        }
        return null;
    }

    /** {@code linux-x86_64}, {@code linux-aarch64}, ...: the name of a jar's library directory. */
    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT).replace(" ", "");
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (arch.equals("amd64") || arch.equals("x86_64")) {
            arch = "x86_64";
        } else if (arch.equals("arm64") || arch.equals("aarch64")) {
            arch = "aarch64";
        }
        return os + "-" + arch;
    }

    /**
     * Writes the jar's copy into a new directory only this user can enter (mode 700, a fresh random
     * name per JVM, so JVMs on one host never share or race on a file), loads it and deletes it:
     * once loaded, the mapping no longer needs the file, and nothing is left behind even when
     * the JVM is killed.
     */
    private static void loadFromJar(String resource, String extractDir) throws IOException {
        Path base = Paths.get(extractDir != null ? extractDir : System.getProperty("java.io.tmpdir"));
        Path dir = Files.createTempDirectory(base, "sparkprom-");
        Path file = dir.resolve(FILE_NAME);
        try {
            try (InputStream in = NativeLoader.class.getClassLoader().getResourceAsStream(resource)) {
                if (in == null) {
                    throw new IOException("cannot read " + resource + " from the jar");
                }
                Files.copy(in, file);
            }
            System.load(file.toAbsolutePath().toString());
        } finally {
            Files.deleteIfExists(file);
            Files.deleteIfExists(dir);
        }
    }
}
