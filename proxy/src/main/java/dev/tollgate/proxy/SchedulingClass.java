package dev.tollgate.proxy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A Linux scheduling class for one thread, set with util-linux's {@code chrt} (Java has no call for it), and the
 * {@code /proc} reading that finds threads by name and tells whether the process may leave the idle class.
 *
 * <p>Threading: stateless; each {@link #apply} starts and waits for one short process.
 */
enum SchedulingClass {
    /** {@code SCHED_IDLE}: runs only on CPU time no other class wants. */
    IDLE("--idle"),
    /** {@code SCHED_OTHER} at nice 0, where every Java thread starts. */
    NORMAL("--other");

    /** Linux keeps a thread's name in 16 bytes with the terminating zero. */
    private static final int COMM_BYTES = 15;
    private static final long CAP_SYS_NICE = 1L << 23;

    private final String flag;

    SchedulingClass(String flag) {
        this.flag = flag;
    }

    /** Puts thread {@code tid} of this process in this class: null when done, else what went wrong. */
    String apply(String tid) {
        Process p;
        try {
            p = new ProcessBuilder("chrt", flag, "--pid", "0", tid).redirectErrorStream(true).start();
        } catch (IOException e) {
            return "chrt not runnable (" + e.getMessage() + ")";
        }
        try {
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return "chrt did not finish";
            }
            return p.exitValue() == 0 ? null
                    : "chrt exited " + p.exitValue() + ": " + new String(out, StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            return "chrt: " + e.getMessage();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            p.destroyForcibly();
            return "interrupted";
        }
    }

    /** The name the kernel shows for a Java thread name. */
    static String comm(String javaName) {
        return javaName.length() > COMM_BYTES ? javaName.substring(0, COMM_BYTES) : javaName;
    }

    /**
     * Thread ids of this process's threads named in {@code javaNames}, by kernel name ({@code tasks}: /proc/self/task);
     * a name may have several (a test's JVM runs several nodes).
     */
    static Map<String, List<String>> threads(Path tasks, List<String> javaNames) throws IOException {
        Map<String, List<String>> found = new LinkedHashMap<>();
        List<String> wanted = javaNames.stream().map(SchedulingClass::comm).toList();
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(tasks)) {
            for (Path dir : dirs) {
                String comm;
                try {
                    comm = Files.readString(dir.resolve("comm"), StandardCharsets.UTF_8).strip();
                } catch (IOException ended) {
                    continue;
                }
                if (wanted.contains(comm)) {
                    found.computeIfAbsent(comm, k -> new ArrayList<>()).add(dir.getFileName().toString());
                }
            }
        }
        return found;
    }

    /**
     * Whether a thread of this process may go from the idle class back to the normal one: with {@code CAP_SYS_NICE},
     * or with an {@code RLIMIT_NICE} soft limit of 20 or more (which allows nice 0).
     */
    static boolean mayLeaveIdle(Path proc) {
        try {
            for (String line : Files.readAllLines(proc.resolve("status"), StandardCharsets.UTF_8)) {
                if (line.startsWith("CapEff:")) {
                    if ((Long.parseUnsignedLong(line.substring(7).strip(), 16) & CAP_SYS_NICE) != 0) {
                        return true;
                    }
                }
            }
            for (String line : Files.readAllLines(proc.resolve("limits"), StandardCharsets.UTF_8)) {
                if (line.startsWith("Max nice priority")) {
                    String soft = line.substring("Max nice priority".length()).strip().split("\\s+")[0];
                    return soft.equals("unlimited") || Long.parseLong(soft) >= 20;
                }
            }
        } catch (IOException | RuntimeException e) {
            return false;
        }
        return false;
    }
}
