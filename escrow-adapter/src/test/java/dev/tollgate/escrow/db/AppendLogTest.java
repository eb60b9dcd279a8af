package dev.tollgate.escrow.db;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The usage log's file format: what was appended is read back in order, and a damaged tail is the end. */
class AppendLogTest {
    private static final AppendLog.EntryWriter<String> TEXT = (s, out) -> out.put(s.getBytes(StandardCharsets.UTF_8));

    private static List<String> read(Path dir, long after) {
        List<String> out = new ArrayList<>();
        AppendLog.read(dir, after, (seq, payload) -> {
            byte[] b = new byte[payload.remaining()];
            payload.get(b);
            out.add(seq + ":" + new String(b, StandardCharsets.UTF_8));
        });
        return out;
    }

    private static List<Path> segments(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().startsWith("usage-")).sorted().toList();
        }
    }

    @Test
    void entriesComeBackInOrderWithTheirNumbersAcrossSegmentsAndRestarts() throws Exception {
        Path dir = Files.createTempDirectory("applog-");
        AppendLog log = AppendLog.open(dir, 4096, false, 0);
        String big = "x".repeat(1000);
        for (int i = 1; i <= 10; i++) {
            assertEquals(i, log.append(i + big, TEXT), "numbered from 1");
        }
        log.close();
        assertEquals(3, segments(dir).size(), "4 KiB segments hold four 1 KB entries each: " + segments(dir));
        List<String> all = read(dir, 0);
        assertEquals(10, all.size());
        assertEquals("1:1" + big, all.get(0));
        assertEquals("10:10" + big, all.get(9));
        assertEquals(List.of("9:9" + big, "10:10" + big), read(dir, 8), "only what follows the watermark");

        AppendLog again = AppendLog.open(dir, 4096, false, 0);
        assertEquals(11, again.append("after a restart", TEXT), "numbering goes on");
        again.close();
        assertEquals("11:after a restart", read(dir, 10).get(0));
    }

    @Test
    void anEntryCutShortOrDamagedEndsItsSegmentAndLaterSegmentsStillRead() throws Exception {
        Path dir = Files.createTempDirectory("applog-");
        AppendLog log = AppendLog.open(dir, 1 << 16, false, 0);
        log.append("one", TEXT);
        log.append("two", TEXT);
        log.append("three", TEXT);
        log.close();
        // Flip a byte of the third entry's payload (16-byte header + "one" + header + "two" + header + 'x').
        Path first = segments(dir).get(0);
        try (RandomAccessFile f = new RandomAccessFile(first.toFile(), "rw")) {
            long at = 16 + 3 + 16 + 3 + 16 + 1;
            f.seek(at);
            f.write('X');
        }
        assertEquals(List.of("1:one", "2:two"), read(dir, 0), "the damaged entry and anything after it are the end");

        // The next start numbers after the last readable entry, in a new segment.
        AppendLog again = AppendLog.open(dir, 1 << 16, false, 0);
        assertEquals(3, again.append("three again", TEXT));
        again.close();
        assertEquals(List.of("1:one", "2:two", "3:three again"), read(dir, 0));
    }

    @Test
    void trimDeletesOnlySegmentsWhoseEveryEntryIsDurableElsewhere() throws Exception {
        Path dir = Files.createTempDirectory("applog-");
        AppendLog log = AppendLog.open(dir, 4096, false, 0);
        for (int i = 1; i <= 9; i++) {
            log.append("y".repeat(1000), TEXT);
        }
        int before = segments(dir).size();
        assertEquals(3, before, "four 1 KB entries per 4 KiB segment");
        log.trim(3);
        assertEquals(before, segments(dir).size(), "entry 4 shares the first segment: kept");
        log.trim(4);
        assertEquals(before - 1, segments(dir).size(), "the first segment (entries 1-4) is gone");
        assertEquals(5, Long.parseLong(read(dir, 0).get(0).split(":")[0]), "reading starts at entry 5");
        log.trim(9);
        assertEquals(1, segments(dir).size(), "the segment being written is always kept");
        log.close();
    }

    @Test
    void anEntryLargerThanASegmentIsRefusedWithoutDamagingTheLog() throws Exception {
        Path dir = Files.createTempDirectory("applog-");
        AppendLog log = AppendLog.open(dir, 4096, false, 0);
        log.append("small", TEXT);
        try {
            log.append("z".repeat(10_000), TEXT);
            throw new AssertionError("accepted an entry larger than a segment");
        } catch (java.io.UncheckedIOException expected) {
            // Refused.
        }
        assertEquals(2, log.append("next", TEXT));
        log.close();
        assertEquals(List.of("1:small", "2:next"), read(dir, 0));
    }

    @Test
    void oneProcessOwnsTheLogUntilItClosesIt() throws Exception {
        Path dir = Files.createTempDirectory("applog-");
        AppendLog owner = AppendLog.open(dir, 1 << 16, false, 0);
        owner.append("mine", TEXT);
        try {
            AppendLog.open(dir, 1 << 16, false, 0).close();
            throw new AssertionError("a second owner was let in");
        } catch (AppendLog.OwnedElsewhere expected) {
            // Only the owner appends or replays; anyone may read.
        }
        assertEquals(List.of("1:mine"), read(dir, 0));
        owner.close();
        AppendLog next = AppendLog.open(dir, 1 << 16, false, 0);
        assertEquals(2, next.append("next owner", TEXT));
        next.close();
    }
}
