package dev.tollgate.escrow.db;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.BufferOverflowException;
import java.nio.ByteBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * An append-only log of numbered, checksummed entries in memory-mapped segment files: what a record needs to
 * survive the death of the process, written in microseconds. A write to a mapped file lands in the operating
 * system's page cache at once, so an entry whose append returned survives SIGKILL, an OOM kill or a crash of the
 * JVM (as SQLite's WAL with {@code synchronous=NORMAL} does); with {@code force} each append is also flushed to the
 * device (an fsync), for power-loss safety.
 *
 * <p>Entry layout: {@code int length | int crc32c(seq, payload) | long seq | payload}. A length of 0 ends a segment
 * (never written: the file's zeros), -1 says "continued in the next segment". The length is written last, so an
 * entry cut short by the process's death reads as the end. Reading stops a segment at its first entry whose
 * checksum fails and goes on with the next segment; each start of the log opens a new segment, so nothing is ever
 * written after a damaged tail.
 *
 * <p>One process owns the log (a lock on {@code owner.lock}, released when it closes or dies): another opening it
 * gets {@link OwnedElsewhere}.
 *
 * <p>Segments are named by their first entry's number; {@link #trim} deletes those whose every entry a consumer
 * has made durable elsewhere.
 *
 * <p>Threading: {@link #append} and {@link #roomInSegment} from one thread at a time (the journal serializes its
 * appenders with a lock: the metering thread, and an event loop appending its own record); {@link #trim},
 * {@link #forcesEachAppend} and {@link #lastSeq} from any thread; {@link #replay} before appending.
 */
public final class AppendLog implements AutoCloseable {
    private static final int HEADER = 16;
    private static final int CONTINUED = -1;

    /** Writes one entry's payload at the buffer's position. */
    @FunctionalInterface
    public interface EntryWriter<T> {
        void write(T item, ByteBuffer out);
    }

    /** Reads one entry's payload (the buffer holds exactly the payload). */
    @FunctionalInterface
    public interface EntryReader {
        void read(long seq, ByteBuffer payload);
    }

    private final Path dir;
    private final FileChannel ownerFile;
    private final java.nio.channels.FileLock owner;
    private final int segmentBytes;
    private final boolean force;
    private final CRC32C crc = new CRC32C();
    private MappedByteBuffer segment;
    private long nextSeq;
    private volatile long lastSeq;

    private AppendLog(Path dir, FileChannel ownerFile, java.nio.channels.FileLock owner, int segmentBytes,
                      boolean force, long nextSeq) {
        this.dir = dir;
        this.ownerFile = ownerFile;
        this.owner = owner;
        this.segmentBytes = segmentBytes;
        this.force = force;
        this.nextSeq = nextSeq;
        this.lastSeq = nextSeq - 1;
    }

    /**
     * Opens the log in {@code dir} (created if missing); entries are numbered after the last readable one, or
     * after {@code floorSeq} when the log holds nothing newer (a consumer may have trimmed everything).
     */
    public static AppendLog open(Path dir, int segmentBytes, boolean force, long floorSeq) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the usage log directory " + dir, e);
        }
        FileChannel ownerFile = null;
        java.nio.channels.FileLock owner = null;
        try {
            ownerFile = FileChannel.open(dir.resolve("owner.lock"), java.nio.file.StandardOpenOption.CREATE,
                    java.nio.file.StandardOpenOption.WRITE);
            owner = ownerFile.tryLock();
        } catch (IOException | java.nio.channels.OverlappingFileLockException e) {
            owner = null;
        }
        if (owner == null) {
            closeQuietly(ownerFile);
            throw new OwnedElsewhere(dir);
        }
        long[] last = {floorSeq};
        read(dir, floorSeq, (seq, payload) -> last[0] = Math.max(last[0], seq));
        return new AppendLog(dir, ownerFile, owner, segmentBytes, force, last[0] + 1);
    }

    /** The log is another process's (or another open log's in this one): only its owner may append or replay. */
    public static final class OwnedElsewhere extends IllegalStateException {
        OwnedElsewhere(Path dir) {
            super("the usage log in " + dir + " is in use by another process");
        }
    }

    private static void closeQuietly(FileChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException ignored) {
                // Nothing held.
            }
        }
    }

    /** Whether each append is also flushed to the device (an fsync per append: {@code durability: power}). */
    public boolean forcesEachAppend() {
        return force;
    }

    /**
     * Bytes an append can still write to the current segment without opening the next one (0 before the first
     * append): an append larger than this creates and maps a new segment file.
     */
    public int roomInSegment() {
        return segment == null ? 0 : Math.max(0, segment.remaining() - HEADER);
    }

    /** The number of the last entry appended (or found at open). */
    public long lastSeq() {
        return lastSeq;
    }

    /**
     * Appends {@code item} as one entry and returns its number. Throws {@link UncheckedIOException} when the entry
     * cannot be written (no space on the device, an entry larger than a segment).
     */
    public <T> long append(T item, EntryWriter<T> writer) {
        for (int attempt = 0; attempt < 2; attempt++) {
            if (segment == null || segment.remaining() < HEADER + 64) {
                roll();
            }
            int start = segment.position();
            try {
                segment.position(start + HEADER);
                writer.write(item, segment);
            } catch (BufferOverflowException | IllegalArgumentException tooLong) {
                segment.putInt(start, CONTINUED);
                segment.position(segment.limit());
                continue;
            }
            int end = segment.position();
            long seq = nextSeq++;
            segment.putLong(start + 8, seq);
            crc.reset();
            segment.position(start + 8).limit(end);
            crc.update(segment); // Advances the position to the entry's end.
            segment.limit(segment.capacity());
            segment.putInt(start + 4, (int) crc.getValue());
            segment.putInt(start, end - start - HEADER);
            if (force) {
                segment.force(start, end - start);
            }
            lastSeq = seq;
            return seq;
        }
        throw new UncheckedIOException(new IOException("an entry does not fit in a usage log segment of "
                + segmentBytes + " bytes"));
    }

    private void roll() {
        if (segment != null && segment.remaining() >= 4) {
            segment.putInt(segment.position(), CONTINUED);
        }
        Path file = dir.resolve(String.format("usage-%020d.log", nextSeq));
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(segmentBytes);
            segment = raf.getChannel().map(FileChannel.MapMode.READ_WRITE, 0, segmentBytes);
        } catch (IOException e) {
            segment = null;
            throw new UncheckedIOException("cannot create usage log segment " + file, e);
        }
    }

    /** Reads every readable entry numbered after {@code afterSeq}, in order. */
    public void replay(long afterSeq, EntryReader reader) {
        read(dir, afterSeq, reader);
    }

    /** Reads the log in {@code dir} without owning it (it may be another process's): entries after {@code afterSeq}. */
    public static void read(Path dir, long afterSeq, EntryReader reader) {
        for (Path file : segments(dir)) {
            ByteBuffer b;
            try (FileChannel ch = FileChannel.open(file)) {
                b = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read usage log segment " + file, e);
            }
            CRC32C check = new CRC32C();
            int pos = 0;
            while (pos + HEADER <= b.limit()) {
                int length = b.getInt(pos);
                if (length <= 0 || pos + HEADER + (long) length > b.limit()) {
                    break; // The end, "continued", or a damaged tail: the next segment goes on.
                }
                check.reset();
                check.update(b.slice(pos + 8, length + 8));
                if ((int) check.getValue() != b.getInt(pos + 4)) {
                    break;
                }
                long seq = b.getLong(pos + 8);
                if (seq > afterSeq) {
                    reader.read(seq, b.slice(pos + HEADER, length));
                }
                pos += HEADER + length;
            }
        }
    }

    /** Deletes the segments whose entries are all numbered at or below {@code durableSeq}. */
    public synchronized void trim(long durableSeq) {
        List<Path> all = segments(dir);
        for (int i = 0; i + 1 < all.size(); i++) {
            if (firstSeq(all.get(i + 1)) <= durableSeq + 1) {
                try {
                    Files.deleteIfExists(all.get(i));
                } catch (IOException e) {
                    return; // Kept for now; the next trim tries again.
                }
            } else {
                return;
            }
        }
    }

    private static List<Path> segments(Path dir) {
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> out = new ArrayList<>(files.filter(p -> p.getFileName().toString().startsWith("usage-")
                    && p.getFileName().toString().endsWith(".log")).sorted().toList());
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot list the usage log " + dir, e);
        }
    }

    private static long firstSeq(Path segment) {
        String name = segment.getFileName().toString();
        return Long.parseLong(name.substring("usage-".length(), name.length() - ".log".length()));
    }

    @Override
    public void close() {
        if (segment != null && force) {
            segment.force();
        }
        segment = null;
        if (owner != null) {
            try {
                owner.release();
            } catch (IOException ignored) {
                // Released with the channel below.
            }
        }
        closeQuietly(ownerFile);
    }
}
