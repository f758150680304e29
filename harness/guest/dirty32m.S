/*
 * dirty32m: a multiboot (v1) 32-bit guest that dirties a known window, so
 * that a live migration has pages to send in every round (docs/real-qemu.md, How a migration is run).
 * It fills 48 MiB from 16 MiB up with one non-zero word per page, then
 * rewrites one word in every page of a 32 MiB window forever, bumping a pass
 * counter at physical 0xF00000.  Build: as --32, ld -m elf_i386.
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0
        .text
        .globl _start
        .align 4
mb_header:
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)
_start:
        cli
        mov     $0x3f8, %dx             /* say hello on COM1 */
        mov     $'G', %al
        out     %al, %dx
        mov     $0x1000000, %edi        /* fill 16..64 MiB, one word per page */
fill:
        movl    $0x5a5a5a5a, (%edi)
        add     $4096, %edi
        cmp     $0x4000000, %edi
        jb      fill
again:
        mov     $0x1000000, %edi        /* dirty every page of 16..48 MiB */
dirty:
        incl    (%edi)
        add     $4096, %edi
        cmp     $0x3000000, %edi
        jb      dirty
        incl    0xF00000                /* pass counter */
        mov     $100000, %ecx
pause:
        dec     %ecx
        jnz     pause
        jmp     again
