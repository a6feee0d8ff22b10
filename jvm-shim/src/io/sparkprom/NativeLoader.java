package io.sparkprom;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * Finds libsparkprom.so and loads it into this JVM. Looks, in order, at the path the caller gives
 * (the {@code library} property), then at the jar's own copy for this machine (release jars carry
 * the library of their build for every platform under {@link #RESOURCE_DIR}), then in each
 * directory of {@code java.library.path} (for {@code libsparkprom-<os>-<arch>.so}, then
 * {@code libsparkprom.so}). The jar's copy comes first because it is of the jar's own build, and a
 * loose library left on a path by an earlier deployment may not be: a loose one is loaded only
 * when the jar has none for this machine (a development build) or the property names it. Before
 * it loads a file it reads the file's ELF header: a
 * library built for another machine (the x86_64 core on a Graviton node, or the other way round)
 * is skipped and the search goes on, because mixed node groups and images carrying both files are
 * common, and loading the wrong one would leave the sink off in that JVM. Logs nothing:
 * {@link NativeLibrary} logs for the sink, {@link Main} prints for {@code --version}, which runs
 * with the jar alone.
 */
final class NativeLoader {
    static final String FILE_NAME = "libsparkprom.so";
    /** Where a jar carries the library: {@code io/sparkprom/native/<os>-<arch>/libsparkprom.so}. */
    static final String RESOURCE_DIR = "io/sparkprom/native/";
    /** The platforms a release jar carries, in the order {@code --version} lists them. */
    static final String[] RELEASE_PLATFORMS = {"linux-x86_64", "linux-aarch64"};
    /** The place of {@code --version}'s first directory; a sink never looks there. */
    static final String BESIDE_JAR = "beside the jar";

    private NativeLoader() {}

    /** A copy of the library the search found: where it is and which platform it was built for. */
    static final class Candidate {
        /** {@link #BESIDE_JAR}, "on java.library.path", "in the jar", "the 'library' property". */
        final String place;
        /** The file's absolute path, or the jar's resource name. */
        final String location;
        /** {@code linux-x86_64}, ..., or why the file's header could not tell. */
        final String platform;
        final boolean inJar;
        /**
         * False for a file whose name says it is another platform's
         * ({@code libsparkprom-linux-x86_64.so} on a Graviton node): listed by {@code --version},
         * passed over without a word by the search, as both release files may lie side by side.
         */
        final boolean tried;

        Candidate(String place, String location, String platform, boolean inJar, boolean tried) {
            this.place = place;
            this.location = location;
            this.platform = platform;
            this.inJar = inJar;
            this.tried = tried;
        }

        boolean fitsThisJvm() {
            return tried && platform.equals(platform());
        }

        /** How log lines name it: a path, or "the jar (resource)". */
        String where() {
            return inJar ? "the jar (" + location + ")" : location;
        }
    }

    /** What {@link #load} did: where the library came from and what it passed over on the way. */
    static final class Loaded {
        final String where;
        /** One line per library skipped for another architecture, naming the file and both. */
        final List<String> skipped;
        /** Why this copy, for the line that says which loaded: empty, or text that starts "; ". */
        final String why;
        /** Why the jar's own copy could not be loaded, when a loose one was loaded instead; else null. */
        final String jarFailure;

        Loaded(String where, List<String> skipped, String why, String jarFailure) {
            this.where = where;
            this.skipped = Collections.unmodifiableList(skipped);
            this.why = why;
            this.jarFailure = jarFailure;
        }
    }

    /**
     * Loads the library; callers make sure this runs once per JVM.
     *
     * @param explicitPath an absolute path to the .so, or null to search
     * @param extractDir where a copy from the jar is written before loading, or null for
     *     {@code java.io.tmpdir}
     * @return where the library was loaded from and what was skipped, for log lines
     * @throws UnsatisfiedLinkError when no copy for this JVM is found, when the one found cannot be
     *     loaded, or when {@code explicitPath} names a library for another architecture
     * @throws IOException when the jar's copy cannot be written out
     */
    static Loaded load(String explicitPath, String extractDir) throws IOException {
        if (explicitPath != null) {
            Candidate named = fileCandidate("the 'library' property", new File(explicitPath), true);
            if (named != null && !named.fitsThisJvm()) {
                throw new UnsatisfiedLinkError("the 'library' property names " + explicitPath + ", which is "
                        + describe(named.platform) + ", and this JVM is " + platform() + ": point 'library' at the "
                        + platformFileName(platform()) + " of the release, or leave it unset to use the jar's own copy");
            }
            System.load(explicitPath);
            return new Loaded(explicitPath, new ArrayList<String>(), "; named by the 'library' property", null);
        }
        return loadFirstFitting(searchPath(null), extractDir);
    }

    /**
     * Loads the first candidate built for this JVM's platform, skipping the others.
     *
     * @throws UnsatisfiedLinkError naming where it looked and what it skipped, when none fits
     */
    static Loaded loadFirstFitting(List<Candidate> candidates, String extractDir) throws IOException {
        List<String> skipped = new ArrayList<>();
        Throwable jarFailure = null;
        for (int i = 0; i < candidates.size(); i++) {
            Candidate candidate = candidates.get(i);
            if (!candidate.tried) {
                continue;
            }
            if (!candidate.fitsThisJvm()) {
                skipped.add(candidate.where() + " (" + candidate.place + ") is " + describe(candidate.platform)
                        + ", this JVM is " + platform());
                continue;
            }
            if (candidate.inJar) {
                try {
                    loadFromJar(candidate.location, extractDir);
                } catch (IOException | UnsatisfiedLinkError e) {
                    // Written where executables are refused (a noexec temporary directory), say: a
                    // loose copy, if there is one, is better than none; the version check still holds.
                    jarFailure = e;
                    continue;
                }
            } else {
                System.load(candidate.location);
            }
            String why = jarFailure != null ? "; the jar's own core could not be loaded"
                    : why(candidate, candidates.subList(i + 1, candidates.size()));
            return new Loaded(candidate.where(), skipped, why, jarFailure == null ? null : jarFailure.toString());
        }
        if (jarFailure instanceof IOException) {
            throw (IOException) jarFailure;
        }
        if (jarFailure != null) {
            throw (UnsatisfiedLinkError) jarFailure;
        }
        throw new UnsatisfiedLinkError("no " + FILE_NAME + " (or " + platformFileName(platform())
                + ") on java.library.path ("
                + System.getProperty("java.library.path") + ") and none for " + platform() + " in the jar"
                + (skipped.isEmpty() ? "" : "; skipped: " + String.join("; ", skipped)));
    }

    /**
     * Why the chosen copy and not the loose libraries after it, for the line that says which
     * loaded: the jar's own core beats a loose one; a loose one loads only when the jar has none.
     */
    private static String why(Candidate chosen, List<Candidate> after) {
        if (!chosen.inJar) {
            return chosen.place.equals(BESIDE_JAR) ? "" : "; the jar carries no core for " + platform();
        }
        List<String> loose = new ArrayList<>();
        for (Candidate other : after) {
            if (!other.inJar && other.tried && !other.place.equals(BESIDE_JAR)) {
                loose.add(other.location);
            }
        }
        return loose.isEmpty() ? "" : "; not " + String.join(", ", loose) + " (on java.library.path): the jar's own"
                + " core is of this build, a loose one may be stale (set 'library' to load a loose one)";
    }

    /**
     * Every copy the search would consider, in its order: {@code firstDir} (when given), the jar's
     * copy for this platform, each directory of {@code java.library.path}, then the jar's copies for
     * other platforms (listed, not tried).
     */
    static List<Candidate> searchPath(File firstDir) {
        List<Candidate> candidates = new ArrayList<>();
        if (firstDir != null) {
            addDirectory(candidates, BESIDE_JAR, firstDir);
        }
        List<String> platforms = platformsThisFirst();
        addJarCopy(candidates, platforms.get(0));
        for (String dir : System.getProperty("java.library.path", "").split(File.pathSeparator)) {
            if (!dir.isEmpty()) {
                addDirectory(candidates, "on java.library.path", new File(dir));
            }
        }
        for (String platform : platforms.subList(1, platforms.size())) {
            addJarCopy(candidates, platform);
        }
        return candidates;
    }

    /** The jar's copy for {@code platform}, when the jar carries one. */
    private static void addJarCopy(List<Candidate> candidates, String platform) {
        String resource = RESOURCE_DIR + platform + "/" + FILE_NAME;
        boolean tried = platform.equals(platform());
        try (InputStream in = NativeLoader.class.getClassLoader().getResourceAsStream(resource)) {
            if (in != null) {
                candidates.add(new Candidate("in the jar", resource, elfPlatform(in), true, tried));
            }
        } catch (IOException e) {
            candidates.add(new Candidate("in the jar", resource, "unreadable (" + e + ")", true, tried));
        }
    }

    /**
     * The platform's own file name first, so one directory can hold the libraries of both; then
     * the plain name; then, listed but not tried, the other release platforms' files.
     */
    private static void addDirectory(List<Candidate> candidates, String place, File dir) {
        List<String> names = new ArrayList<>();
        for (String platform : platformsThisFirst()) {
            names.add(platformFileName(platform));
        }
        names.add(1, FILE_NAME);
        for (int i = 0; i < names.size(); i++) {
            Candidate candidate = fileCandidate(place, new File(dir, names.get(i)), i < 2);
            if (candidate != null && !alreadyListed(candidates, candidate.location)) {
                candidates.add(candidate);
            }
        }
    }

    /** "a linux-aarch64 library", or what the header said instead ("not an ELF library"). */
    static String describe(String platform) {
        return platform.startsWith("linux-") ? "a " + platform + " library" : platform;
    }

    /** This JVM's platform, then the other platforms a release carries. */
    private static List<String> platformsThisFirst() {
        List<String> platforms = new ArrayList<>();
        platforms.add(platform());
        for (String other : RELEASE_PLATFORMS) {
            if (!platforms.contains(other)) {
                platforms.add(other);
            }
        }
        return platforms;
    }

    /** Whether a directory listed twice (beside the jar and on the path, say) gave this file already. */
    private static boolean alreadyListed(List<Candidate> candidates, String location) {
        for (Candidate candidate : candidates) {
            if (candidate.location.equals(location)) {
                return true;
            }
        }
        return false;
    }

    /** {@code libsparkprom-linux-aarch64.so}: how the release names the loose library of each platform. */
    static String platformFileName(String platform) {
        return "libsparkprom-" + platform + ".so";
    }

    /** The file as a candidate, or null when there is no such file. */
    private static Candidate fileCandidate(String place, File file, boolean tried) {
        if (!file.isFile()) {
            return null;
        }
        String platform;
        try (InputStream in = Files.newInputStream(file.toPath())) {
            platform = elfPlatform(in);
        } catch (IOException e) {
            platform = "unreadable (" + e + ")";
        }
        return new Candidate(place, file.getAbsolutePath(), platform, false, tried);
    }

    /**
     * The platform an ELF file was built for, from its header: {@code linux-<machine>} in the names
     * {@link #platform()} gives, or a description of what the header says instead. (The OS byte of
     * Linux libraries is 0, "System V", so only the machine is read; this loader serves Linux.)
     */
    static String elfPlatform(InputStream in) throws IOException {
        byte[] header = new byte[20];
        int read = 0;
        while (read < header.length) {
            int n = in.read(header, read, header.length - read);
            if (n < 0) {
                break;
            }
            read += n;
        }
        if (read < header.length || header[0] != 0x7f || header[1] != 'E' || header[2] != 'L' || header[3] != 'F') {
            return "not an ELF library";
        }
        boolean bigEndian = header[5] == 2;
        int machine = bigEndian
                ? ((header[18] & 0xff) << 8) | (header[19] & 0xff)
                : ((header[19] & 0xff) << 8) | (header[18] & 0xff);
        boolean is64 = header[4] == 2;
        String arch;
        switch (machine) {
            case 62: arch = "x86_64"; break;
            case 183: arch = "aarch64"; break;
            case 3: arch = "x86"; break;
            case 40: arch = "arm"; break;
            case 21: arch = bigEndian ? "ppc64" : "ppc64le"; break;
            case 22: arch = "s390x"; break;
            case 243: arch = is64 ? "riscv64" : "riscv32"; break;
            default: return "ELF machine " + machine;
        }
        return "linux-" + arch;
    }

    /** {@code linux-x86_64}, {@code linux-aarch64}, ...: the name of a jar's library directory. */
    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT).replace(" ", "");
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (arch.equals("amd64") || arch.equals("x86_64")) {
            arch = "x86_64";
        } else if (arch.equals("arm64") || arch.equals("aarch64")) {
            arch = "aarch64";
        } else if (arch.equals("i386") || arch.equals("i686")) {
            arch = "x86";
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
