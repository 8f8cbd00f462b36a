#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write hand-made seed inputs for tests/fuzz/fuzz_core.c into a directory.

The fuzzer alone rarely builds a sequence that parks a call (a valid set
id, a sembuf in memory, a semop that must wait) and then wakes it; these
seeds do, for every kind of parked call and every way it ends, so that
mutation starts from deep states.  The encoding mirrors the readers of
fuzz_core.c (u8/u16/u32/u64 little-endian, pick_* helpers, the op bytes);
change both together.

Usage: seeds.py DIR
"""
import os
import struct
import sys

MEM = 0  # offsets into a process's memory (MEM_BASE in fuzz_core.c)

# semctl / shmctl / msgctl command indexes in fuzz_core.c's tables.
SEMCMD = dict(IPC_STAT=0, IPC_SET=1, IPC_RMID=2, IPC_INFO=3, SEM_INFO=4, SEM_STAT=5, SEM_STAT_ANY=6,
              GETALL=7, SETALL=8, GETVAL=9, SETVAL=10, GETPID=11, GETNCNT=12, GETZCNT=13)
SHMCMD = dict(IPC_STAT=0, IPC_SET=1, IPC_RMID=2, IPC_INFO=3, SHM_INFO=4, SHM_STAT=5, SHM_STAT_ANY=6,
              SHM_LOCK=7, SHM_UNLOCK=8)
MSGCMD = dict(IPC_STAT=0, IPC_SET=1, IPC_RMID=2, IPC_INFO=3, MSG_INFO=4, MSG_STAT=5, MSG_STAT_ANY=6)

ROOT, USER, NOBODY = 0xa0, 0x85, 0x8a  # proc_init's first byte


def u8(v):
    return bytes([v & 0xff])


def u16(v):
    return struct.pack('<H', v & 0xffff)


def u32(v):
    return struct.pack('<I', v & 0xffffffff)


def u64(v):
    return struct.pack('<Q', v & 0xffffffffffffffff)


def small(v):
    """pick_int: a small signed value."""
    assert -128 <= v <= 127
    return u8(1) + u8(v)


def int32(v):
    return u8(2) + u32(v)


def ptr(off):
    """pick_ptr: MEM_BASE + off."""
    return u8(0) + u16(off)


NULLPTR = u8(5)
LAST = u8(1)      # pick_id: the last id of the kind
PREV = u8(3)      # the one before
PRIVATE = u8(0)   # pick_key


def key(n):
    assert 1 <= n <= 3
    return u8(128 + n)


def flags(mode=0o666, creat=True, excl=False, nowait=False, extra=False):
    k = 1 if mode == 0o666 else 2 if mode == 0o600 else 0
    return u8(k | (4 if creat else 0) | (8 if excl else 0) | (16 if nowait else 0) | (32 if extra else 0))


def limits(shmmni=4, semmni=4, msgmni=4, semmsl=8, semmns=64, semopm=None, msgmax=None, msgmnb=None,
           quota=None, quota_obj=0, rmid_forced=False, shm=None):
    k = 0
    tail = b''
    if semopm is None:
        k |= 1
    else:
        tail += u8(semopm - 1)
    if msgmax is None:
        k |= 2
    else:
        tail += u16(msgmax)
    if msgmnb is None:
        k |= 4
    else:
        tail += u16(msgmnb)
    if quota is None:
        k |= 8
    else:
        tail += u16(quota)
    if quota_obj == 0:
        k |= 16
    else:
        tail += u8(quota_obj)
    if rmid_forced:
        k |= 32
    if shm is not None:
        k |= 64
        shmmax, shmall = shm
        tail += u32(shmmax - 1) + u16(shmall) + u8(1)
    return u8(k) + u8(shmmni - 1) + u8(semmni - 1) + u8(msgmni - 1) + u8(semmsl - 1) + u16(semmns - 1) + tail


TRACKS = False  # set by make_seeds(): the world's tracks_processes flag


def world(lim, procs):
    return lim + u8(len(procs) - 1) + b''.join(u8(p) for p in procs) + u8(1 if TRACKS else 0)


def call(op, slot=0, answer=True, die=None, interrupt=False):
    k = (1 if answer else 0) | (0x0e if die is not None else 0) | (0x30 if interrupt else 0)
    out = u8(op) + u8(slot) + u8(k)
    if die is not None:
        out += u8(die)
    return out


# ---- Calls.
def shmget(k, size, fl, slot=0, **kw):
    return call(0, slot, **kw) + k + int32(size) + u8(0) + fl


def shmat(idb=LAST, rdonly=False, slot=0, page=None, remap=False, **kw):
    k = (4 if rdonly else 0) | (16 if remap else 0) | (1 if page is not None else 0)
    out = call(1, slot, **kw) + idb + u8(k)
    if page is not None:
        out += u16(page)
    return out


def shmdt_vma(i=0, slot=0, **kw):
    return call(2, slot, **kw) + u8(1) + u8(i)


def shmctl(cmd, idb=LAST, buf=ptr(0), slot=0, **kw):
    return call(3, slot, **kw) + u8(SHMCMD[cmd]) + idb + buf


def semget(k, nsems, fl, slot=0, **kw):
    return call(4, slot, **kw) + k + small(nsems) + fl


def semop(off, nsops, idb=LAST, timeout=None, slot=0, **kw):
    k = nsops | (0x40 if timeout is not None else 0)
    out = call(5, slot, **kw) + idb + ptr(off) + u8(k)
    if timeout is not None:
        out += ptr(timeout)
    return out


def semctl(cmd, semnum=0, arg=None, idb=LAST, slot=0, **kw):
    out = call(6, slot, **kw) + u8(SEMCMD[cmd]) + idb + small(semnum)
    out += small(arg) if cmd == 'SETVAL' else ptr(arg or 0)
    return out


def msgget(k, fl, slot=0, **kw):
    return call(7, slot, **kw) + k + fl


def msgsnd(off, size, fl=None, idb=LAST, slot=0, **kw):
    return call(8, slot, **kw) + idb + ptr(off) + u8(0) + u16(size) + (fl or flags(creat=False))


def msgrcv(off, size, typ=0, nowait=False, noerror=False, except_=False, copy=False, idb=LAST, slot=0, **kw):
    k = (1 if nowait else 0) | (2 if noerror else 0) | (4 if except_ else 0) | (8 if copy else 0)
    return call(9, slot, **kw) + idb + ptr(off) + u8(k) + u16(size) + u8(typ)


def msgctl(cmd, idb=LAST, buf=ptr(0), slot=0, **kw):
    return call(10, slot, **kw) + u8(MSGCMD[cmd]) + idb + buf


# ---- World operations (byte 160 + n).
def sembufs(off, ops, slot=0):
    """ops: (sem_num 0..3, sem_op -3..3, nowait, undo)."""
    out = u8(160) + u8(slot) + u16(off) + u8(len(ops) - 1)
    for num, op, nowait, undo in ops:
        out += u8(num | (0x10 if nowait else 0) | (0x20 if undo else 0)) + u8(op)
    return out


def msgbuf(off, typ, slot=0):
    return u8(161) + u8(slot) + u16(off) + u8(0) + u8(typ - 1)


def timespec(off, usec, slot=0):
    return u8(162) + u8(slot) + u16(off) + u8(0) + u8(0) + u8(usec)


def raw(off, data, slot=0):
    out = b''
    for i in range(0, len(data), 31):
        chunk = data[i:i + 31]
        out += u8(163) + u8(slot) + u16(off + i) + u8(len(chunk)) + chunk
    return out


def interrupt(i=0):
    return u8(164) + u8(i)


def fail_deliver(i=0):
    return u8(165) + u8(i)


def expire(i=0):
    return u8(166) + u8(i)


SWEEP = u8(167)


def fork(parent, child):
    return u8(168) + u8(parent) + u8(child)


def exec_(slot):
    return u8(169) + u8(slot)


def exit_(slot, newproc=ROOT):
    return u8(170) + u8(slot) + (u8(newproc) if slot == 0 else b'')


def exit_event(i=0):
    return u8(171) + u8(i)


def self_unmap(slot=0, vma=0, page=0, npages=1):
    return u8(173) + u8(slot) + u8(vma) + u8(page) + u8(npages - 1)


def host_ipcs():
    return u8(176) + u8(1)


REAP = u8(177)


def ipc_perm(uid, gid, mode):
    return struct.pack('<iIIIIHHHH4xQQ', 0, uid, gid, 0, 0, mode, 0, 0, 0, 0, 0)


def make_seeds(tracks):
    """Every seed, in a world whose host tracks processes or not."""
    global TRACKS
    TRACKS = tracks
    SEEDS = {}

    # Semaphores.
    base = world(limits(), [ROOT, USER])
    SEEDS['sem-park-setval'] = (base + semget(PRIVATE, 2, flags()) + sembufs(0, [(0, -1, False, False)], slot=1) +
                                semop(0, 1, slot=1) + semctl('GETNCNT') + semctl('SETVAL', 0, 1) +
                                semctl('GETVAL'))
    SEEDS['sem-complex'] = (base + semget(PRIVATE, 3, flags()) +
                            sembufs(0, [(0, -1, False, False), (1, -1, False, True)], slot=1) + semop(0, 2, slot=1) +
                            sembufs(12, [(1, -1, False, False)]) + semop(12, 1) +
                            sembufs(24, [(2, 0, False, False)]) + semop(24, 1) +
                            sembufs(36, [(0, 1, False, False), (1, 2, False, False), (2, 1, False, False)]) +
                            semop(36, 3) + semctl('GETZCNT', 2) + semctl('SETALL', 0, 48))
    SEEDS['sem-undo-exit'] = (base + semget(key(1), 2, flags()) + sembufs(0, [(0, 2, False, True)], slot=1) +
                              semop(0, 1, slot=1) + sembufs(6, [(0, -3, False, False)]) + semop(6, 1) +
                              exit_(1) + exit_event() + semctl('GETVAL'))
    SEEDS['sem-timeout'] = (base + semget(PRIVATE, 1, flags()) + sembufs(0, [(0, -1, False, False)]) +
                            timespec(16, 200) + semop(0, 1, timeout=16) + expire() + semctl('GETNCNT'))
    SEEDS['sem-rmid'] = (base + semget(PRIVATE, 2, flags()) + sembufs(0, [(0, -1, False, True)]) + semop(0, 1) +
                         sembufs(6, [(1, 0, False, False)], slot=1) + semctl('SETVAL', 1, 1) + semop(6, 1, slot=1) +
                         semctl('IPC_RMID'))
    SEEDS['sem-interrupted'] = (base + semget(PRIVATE, 1, flags()) + sembufs(0, [(0, -1, False, False)]) +
                                sembufs(0, [(0, -1, False, False)], slot=1) +
                                semop(0, 1) + semop(0, 1, slot=1) + interrupt(0) + fail_deliver(0) +
                                semctl('SETVAL', 0, 2) + SWEEP + semctl('GETVAL'))
    SEEDS['sem-immediate-interrupted'] = (base + semget(PRIVATE, 1, flags()) + semctl('SETVAL', 0, 1) +
                                          sembufs(0, [(0, -1, False, True)]) + semop(0, 1, interrupt=True) +
                                          semctl('GETVAL') + semop(0, 1, die=2))

    # Message queues.
    SEEDS['msg-pipelined'] = (base + msgget(PRIVATE, flags()) + msgrcv(100, 64, slot=1) + msgrcv(200, 4, typ=2) +
                              msgbuf(0, 1) + raw(8, b'hello world') + msgsnd(0, 11) + msgbuf(32, 2) +
                              msgsnd(32, 40) + msgctl('IPC_STAT'))
    SEEDS['msg-full-queue'] = (world(limits(msgmnb=32), [ROOT, USER]) + msgget(key(2), flags()) + msgbuf(0, 1) + msgbuf(0, 1, slot=1) +
                               msgsnd(0, 30) + msgsnd(0, 30, slot=1) + msgsnd(0, 10) + msgrcv(100, 64) +
                               msgrcv(100, 64) + msgrcv(100, 64, nowait=True))
    SEEDS['msg-quota'] = (world(limits(quota=300), [ROOT, USER]) + msgget(PRIVATE, flags()) +
                          msgget(PRIVATE, flags()) + msgbuf(0, 3) + msgbuf(0, 3, slot=1) + msgsnd(0, 100) + msgsnd(0, 100, idb=PREV) +
                          msgsnd(0, 100, slot=1) + msgsnd(0, 100, idb=PREV) + msgrcv(400, 200, idb=PREV) +
                          msgrcv(400, 200) + msgctl('MSG_INFO'))
    SEEDS['msg-rmid-waiters'] = (base + msgget(PRIVATE, flags()) + msgrcv(100, 64, typ=3) + msgrcv(100, 64, slot=1) +
                                 interrupt(1) + msgctl('IPC_RMID') + msgctl('IPC_STAT'))
    SEEDS['msg-types'] = (base + msgget(PRIVATE, flags()) + msgbuf(0, 3) + msgsnd(0, 5) + msgbuf(0, 1) +
                          msgsnd(0, 6) + msgbuf(0, 2) + msgsnd(0, 7) + msgrcv(100, 64, typ=-2) +
                          msgrcv(100, 64, typ=2, except_=True) + msgrcv(100, 64, typ=0, copy=True, nowait=True) +
                          msgrcv(100, 2, typ=0) + msgrcv(100, 2, typ=0, noerror=True))
    ds = ipc_perm(1000, 1000, 0o600) + bytes(24) + bytes(16) + struct.pack('<Q', 64) + bytes(24)
    SEEDS['msg-set'] = (base + msgget(PRIVATE, flags()) + msgrcv(100, 64, slot=1) + msgbuf(200, 1) + msgbuf(200, 1, slot=1) +
                        msgsnd(200, 60) + raw(300, ds) + msgctl('IPC_SET', buf=ptr(300)) + msgsnd(200, 60) +
                        msgsnd(200, 60, slot=1) + msgctl('IPC_STAT', buf=ptr(400)))

    # Shared memory.
    SEEDS['shm-life'] = (base + shmget(PRIVATE, 8192, flags()) + shmat() + shmctl('IPC_STAT') + shmdt_vma(0) +
                         shmctl('SHM_INFO') + shmctl('IPC_RMID'))
    SEEDS['shm-rmid-attached-fork'] = (base + shmget(key(3), 12288, flags()) + shmat() + shmat(rdonly=True) +
                                       shmctl('IPC_RMID') + fork(0, 2) + exit_(0) + exit_event() + shmctl(
                                           'SHM_STAT', idb=u8(0)) + exec_(2) + REAP + host_ipcs())
    SEEDS['shm-split'] = (base + shmget(PRIVATE, 4 * 4096, flags()) + shmat() + self_unmap(0, 0, 1, 1) +
                          shmctl('IPC_STAT') + shmdt_vma(0) + shmctl('IPC_STAT') + shmctl('IPC_RMID'))
    SEEDS['shm-remap'] = (base + shmget(PRIVATE, 8192, flags()) + shmget(PRIVATE, 4096, flags()) +
                          shmat(page=4) + shmat(idb=PREV, page=4) + shmat(idb=PREV, page=4, remap=True) +
                          shmctl('IPC_STAT') + shmctl('SHM_LOCK') + shmctl('IPC_SET', buf=ptr(0)))
    SEEDS['shm-rmid-forced'] = (world(limits(rmid_forced=True), [ROOT, USER]) + shmget(PRIVATE, 4096, flags(), slot=1) +
                                shmat(slot=1) + exit_(1) + exit_event() + shmctl('IPC_STAT'))
    SEEDS['shm-limits'] = (world(limits(shmmni=2, shm=(65536, 4)), [ROOT, NOBODY]) + shmget(PRIVATE, 4096, flags()) +
                           shmget(PRIVATE, 8192, flags()) + shmget(PRIVATE, 4096, flags()) +
                           shmget(PRIVATE, 65537, flags()) + shmat(slot=1) + shmctl('IPC_RMID', slot=1))
    return SEEDS


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    os.makedirs(sys.argv[1], exist_ok=True)
    for tracks in (False, True):
        for name, data in sorted(make_seeds(tracks).items()):
            suffix = '-tracked' if tracks else ''
            with open(os.path.join(sys.argv[1], 'seed-' + name + suffix), 'wb') as f:
                f.write(data)
    return 0


if __name__ == '__main__':
    sys.exit(main())
