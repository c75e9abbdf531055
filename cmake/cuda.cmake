# Compiles the CUDA sources (src/backend/cuda/*.cu) into an object library when
# nvcc is available, so CUDA code keeps compiling on machines without a GPU.
# Nothing here needs a GPU at build time.
find_program(KILN_NVCC nvcc PATHS /usr/local/cuda/bin NO_DEFAULT_PATH)
if(NOT KILN_NVCC)
  find_program(KILN_NVCC nvcc)
endif()
file(GLOB KILN_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/backend/cuda/*.cu)
if(KILN_NVCC AND KILN_CUDA_SOURCES AND NOT KILN_SANITIZE AND NOT KILN_FUZZ)
  set(CMAKE_CUDA_COMPILER ${KILN_NVCC})
  set(CMAKE_CUDA_ARCHITECTURES 90)
  enable_language(CUDA)
  add_library(kiln_cuda_obj OBJECT ${KILN_CUDA_SOURCES})
  target_include_directories(kiln_cuda_obj PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/src)
  message(STATUS "kiln: CUDA sources compiled with ${KILN_NVCC}")
else()
  message(STATUS "kiln: CUDA sources not compiled (nvcc not found or sanitizer build)")
endif()
