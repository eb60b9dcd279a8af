package dev.tollgate.bench.load;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A {@code tollgate} command in its own JVM (so its CPU time and resident memory can be read from /proc),
 * started and waited for until it prints its ready line.
 */
final class ChildProcess implements AutoCloseable {
    private final Process process;

    private ChildProcess(Process process) {
        this.process = process;
    }

    static ChildProcess start(Path jar, String readyPrefix, String... args) throws IOException {
        return start(null, jar, readyPrefix, args);
    }

    /** Starts the command pinned to {@code cpus} (a taskset cpu list) unless it is null. */
    static ChildProcess start(String cpus, Path jar, String readyPrefix, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx1g", "-XX:+UseParallelGC", "-Dio.netty.leakDetection.level=disabled", "-jar", jar.toString()));
        if (cpus != null) {
            cmd.addAll(0, List.of("taskset", "-c", cpus));
        }
        String extra = System.getenv("TOLLGATE_CHILD_JAVA_OPTS");
        if (extra != null && !extra.isBlank() && args.length > 0 && args[0].equals("serve")) {
            // e.g. JFR for a profile of the proxy: -XX:StartFlightRecording=filename=/tmp/tollgate-%p.jfr,settings=profile
            cmd.addAll(cmd.size() - 2, List.of(extra.trim().split("\\s+")));
        }
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        CompletableFuture<Boolean> ready = CompletableFuture.supplyAsync(() -> {
            try {
                String line;
                while ((line = out.readLine()) != null) {
                    if (line.startsWith(readyPrefix)) {
                        return true;
                    }
                }
            } catch (IOException e) {
                return false;
            }
            return false;
        });
        try {
            if (!ready.get(60, TimeUnit.SECONDS)) {
                throw new IOException("child exited: " + String.join(" ", args));
            }
        } catch (Exception e) {
            p.destroyForcibly();
            throw new IOException("child did not start: " + String.join(" ", args), e);
        }
        Thread drain = new Thread(() -> {
            try {
                while (out.readLine() != null) {
                    // discard
                }
            } catch (IOException e) {
                // gone
            }
        });
        drain.setDaemon(true);
        drain.start();
        return new ChildProcess(p);
    }

    /** User + system CPU seconds so far, from /proc. */
    double cpuSeconds() {
        try {
            String stat = Files.readString(Path.of("/proc/" + process.pid() + "/stat"));
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /**
     * CPU clock ticks (1/100 s) per thread, from /proc/PID/task, keyed "name/tid" (the kernel keeps the first 15
     * characters of a thread's name, so event loops of one group differ only by their tid).
     */
    Map<String, Long> threadCpuTicks() {
        Map<String, Long> ticks = new HashMap<>();
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/" + process.pid() + "/task"))) {
            for (Path task : tasks) {
                try {
                    String stat = Files.readString(task.resolve("stat"));
                    String name = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')')) + "/" + task.getFileName();
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    ticks.put(name, Long.parseLong(f[11]) + Long.parseLong(f[12]));
                } catch (IOException | RuntimeException e) {
                    // the thread ended meanwhile
                }
            }
        } catch (IOException e) {
            return ticks;
        }
        return ticks;
    }

    /**
     * Nanoseconds the process's threads have spent runnable but waiting for a CPU (the run queue), summed over its
     * threads, from /proc/PID/task/TID/schedstat; -1 when the kernel does not keep schedstats.
     */
    long runQueueWaitNanos() {
        long sum = 0;
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/" + process.pid() + "/task"))) {
            for (Path task : tasks) {
                try {
                    sum += Long.parseLong(Files.readString(task.resolve("schedstat")).trim().split(" ")[1]);
                } catch (IOException | RuntimeException e) {
                    // the thread ended meanwhile
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return sum;
    }

    /** Resident set size in KiB, from /proc. */
    long rssKib() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/" + process.pid() + "/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return -1;
    }

    @Override
    public void close() {
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
