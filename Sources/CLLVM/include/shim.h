#ifndef CLLVM_SHIM_H
#define CLLVM_SHIM_H
/* The LLVM 19 C API (Debian llvm-19-dev), seen through two symlinks in this folder:
     llvm-c -> /usr/lib/llvm-19/include/llvm-c
     llvm   -> /usr/lib/llvm-19/include/llvm   (llvm-c/*.h include "llvm/Config/...")
   SwiftPM passes -I Sources/CLLVM/include to every target that depends on CLLVM. */
#include "llvm-c/Core.h"
#include "llvm-c/Analysis.h"
#include "llvm-c/Error.h"
#include "llvm-c/Target.h"
#include "llvm-c/TargetMachine.h"
#include "llvm-c/Orc.h"
#include "llvm-c/LLJIT.h"
#include "llvm-c/Transforms/PassBuilder.h"
#endif
