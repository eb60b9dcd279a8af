package dev.tollgate.proxy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Moves the node's background threads (journal writer, metering, ledger, settler, WAL checkpointer) into Linux's
 * {@code SCHED_IDLE} class, so that they run on CPU time no event loop wants.
 *
 * <p>Why: a background thread woken on an event loop's CPU preempts the loop in the middle of a response (the
 * journal writer's group commit holds the CPU for about half a millisecond), which is what the slowest 1% of
 * requests at one connection measured; lowering the nice value does not stop it on the kernels measured, the
 * idle class does. The price: when event loops keep every CPU busy, the background threads get only what is left,
 * so the journal's back-pressure bound paces the proxy sooner (benchmarks/RESULTS.md, "Background threads in the
 * idle class"). {@code background_threads: normal} leaves them as they are.
 *
 * <p>Java cannot change a thread's scheduling class itself: each thread is found by its name in
 * {@code /proc/self/task/<tid>/comm} (the first 15 bytes of the Java name) and moved with util-linux's
 * {@code chrt --idle --pid 0 <tid>}, which needs no privilege (lowering is always allowed; going back needs
 * {@code CAP_SYS_NICE}). Where {@code /proc} or {@code chrt} is missing the threads stay as they are and the
 * outcome says why.
 *
 * <p>Threading: call from the thread that starts the node, once the background threads exist. A background
 * thread started later (a replacement after an uncaught error) keeps the normal class.
 */
public final class BackgroundThreads {
    /** The Java names of the threads moved. */
    public static final List<String> NAMES = List.of("tollgate-journal", "tollgate-metering", "tollgate-ledger",
            "tollgate-settler", "tollgate-wal-checkpoint");

    /** Linux keeps a thread's name in 16 bytes with the terminating zero. */
    private static final int COMM_BYTES = 15;

    private BackgroundThreads() {
    }

    /**
     * What happened.
     *
     * @param moved   kernel names of the threads now in the idle class
     * @param problem why some or all could not be moved; null when none failed
     */
    public record Outcome(List<String> moved, String problem) {
    }

    /** Moves this process's background threads into the idle class. */
    public static Outcome idle() {
        return idle(Path.of("/proc/self/task"));
    }

    static Outcome idle(Path tasks) {
        List<String> moved = new ArrayList<>();
        List<String> failed = new ArrayList<>();
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(tasks)) {
            for (Path dir : dirs) {
                String comm = comm(dir);
                if (comm == null || !isBackground(comm)) {
                    continue;
                }
                String error = chrtIdle(dir.getFileName().toString());
                if (error == null) {
                    moved.add(comm);
                } else {
                    failed.add(comm + ": " + error);
                }
            }
        } catch (IOException e) {
            return new Outcome(List.of(), "cannot list " + tasks + " (" + e.getMessage() + ")");
        }
        return new Outcome(List.copyOf(moved), failed.isEmpty() ? null : String.join("; ", failed));
    }

    static boolean isBackground(String comm) {
        for (String name : NAMES) {
            if (comm.equals(name.length() > COMM_BYTES ? name.substring(0, COMM_BYTES) : name)) {
                return true;
            }
        }
        return false;
    }

    private static String comm(Path taskDir) {
        try {
            return Files.readString(taskDir.resolve("comm"), StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            return null; // the thread ended meanwhile
        }
    }

    /** Null when done, else what went wrong. */
    private static String chrtIdle(String tid) {
        Process p;
        try {
            p = new ProcessBuilder("chrt", "--idle", "--pid", "0", tid)
                    .redirectErrorStream(true)
                    .start();
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
}
