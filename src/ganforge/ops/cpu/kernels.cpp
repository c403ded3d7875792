// Fused CPU kernels for the passes PyTorch runs as several memory sweeps (ganforge/ops/cpu/kernels.py).
// Images are channels_last: an (N, C, H, W) tensor is an (N*H*W, C) matrix of pixel rows.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace {

// Pixel rows per task of at::parallel_for, and per partial sum of a reduction: each chunk of
// rows is summed in float, chunks are added in double in a fixed order, so the result does not
// depend on the thread count and a long batch loses no precision.
constexpr int64_t kGrain = 256;
constexpr int64_t kChunk = 64;
// Below this many channels (one AVX register) col2im adds element by element.
constexpr int64_t kVectorChannels = 8;

// The loops over a pixel's channels are functions of restrict pointers: inside the lambdas that
// OpenMP outlines, GCC cannot prove the arrays apart and runs them unvectorized (20x slower).

// The pre-activation of a BatchNorm output. Built with -ffp-contract=off, so the forward and
// backward passes round it the same way and see the same sign.
inline float normalized(float x, float scale, float shift) { return x * scale + shift; }

// sum += x - origin, squares += (x - origin)^2: shifted sums, so the variance does not cancel.
void add_moments(const float* __restrict__ x, const float* __restrict__ origin,
                 float* __restrict__ sum, float* __restrict__ squares, int64_t channels) {
  for (int64_t c = 0; c < channels; ++c) {
    const float d = x[c] - origin[c];
    sum[c] += d;
    squares[c] += d * d;
  }
}

void normalize_activate(const float* __restrict__ x, const float* __restrict__ scale,
                        const float* __restrict__ shift, float slope, float* __restrict__ y,
                        int64_t channels) {
  for (int64_t c = 0; c < channels; ++c) {
    const float z = normalized(x[c], scale[c], shift[c]);
    y[c] = z > 0.f ? z : z * slope;
  }
}

// g = dy * activation'(z): sum_g += g, sum_gx += g * (x - mean).
void add_gradient_moments(const float* __restrict__ x, const float* __restrict__ dy,
                          const float* __restrict__ scale, const float* __restrict__ shift,
                          const float* __restrict__ mean, float slope, float* __restrict__ sum_g,
                          float* __restrict__ sum_gx, int64_t channels) {
  for (int64_t c = 0; c < channels; ++c) {
    const float g = normalized(x[c], scale[c], shift[c]) > 0.f ? dy[c] : dy[c] * slope;
    sum_g[c] += g;
    sum_gx[c] += g * (x[c] - mean[c]);
  }
}

void input_gradient(const float* __restrict__ x, const float* __restrict__ dy,
                    const float* __restrict__ scale, const float* __restrict__ shift,
                    const float* __restrict__ mean, const float* __restrict__ mean_g,
                    const float* __restrict__ projection, float slope, float* __restrict__ dx,
                    int64_t channels) {
  for (int64_t c = 0; c < channels; ++c) {
    const float g = normalized(x[c], scale[c], shift[c]) > 0.f ? dy[c] : dy[c] * slope;
    dx[c] = scale[c] * (g - mean_g[c] - (x[c] - mean[c]) * projection[c]);
  }
}

// Two per-channel sums over the rows of (rows, channels) matrices. `add(row, first, second)`
// adds one row's terms into the two float accumulators of its chunk.
template <typename AddRow>
std::vector<double> channel_sums(int64_t rows, int64_t channels, AddRow add) {
  const int64_t chunks = (rows + kChunk - 1) / kChunk;
  std::vector<float> partial(static_cast<size_t>(chunks) * 2 * channels, 0.f);
  float* partials = partial.data();
  at::parallel_for(0, chunks, kGrain / kChunk, [=](int64_t begin, int64_t end) {
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      float* first = partials + chunk * 2 * channels;
      for (int64_t row = chunk * kChunk; row < std::min(rows, (chunk + 1) * kChunk); ++row) {
        add(row, first, first + channels);
      }
    }
  });
  std::vector<double> sums(2 * channels, 0.0);
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    for (int64_t c = 0; c < 2 * channels; ++c) sums[c] += partials[chunk * 2 * channels + c];
  }
  return sums;
}

// Training-mode BatchNorm (biased variance) followed by a leaky ReLU of `slope` (0: ReLU), with
// statistics of its own for each of `groups` equal blocks of the batch (real and fake images in
// one call, as two calls would see them). Updates the running statistics as nn.BatchNorm does,
// once per group in order (unbiased variance; `momentum` < 0 for PyTorch's None: the cumulative
// average over num_batches_tracked). Returns the output, the batch means and 1/sqrt(var + eps),
// (groups, C) each.
std::vector<at::Tensor> batch_norm_act_forward(const at::Tensor& images, const at::Tensor& weight,
                                               const at::Tensor& bias, at::Tensor running_mean,
                                               at::Tensor running_var,
                                               at::Tensor num_batches_tracked, double momentum,
                                               double eps, double slope, int64_t groups) {
  const int64_t channels = images.size(1), rows = images.numel() / channels / groups;
  TORCH_CHECK(images.numel() == rows * groups * channels, "batch not divisible into groups");
  auto options = images.options();
  auto mean = at::empty({groups, channels}, options), invstd = at::empty({groups, channels}, options);
  auto out = at::empty_like(images);
  const float* gamma = weight.data_ptr<float>();
  const float* beta = bias.data_ptr<float>();
  float* moving_mean = running_mean.data_ptr<float>();
  float* moving_var = running_var.data_ptr<float>();
  std::vector<float> scale(channels), shift(channels);
  for (int64_t group = 0; group < groups; ++group) {
    const float* x = images.data_ptr<float>() + group * rows * channels;
    float* y = out.data_ptr<float>() + group * rows * channels;
    const std::vector<float> origin(x, x + channels);
    const float* shift0 = origin.data();
    const auto sums = channel_sums(rows, channels, [=](int64_t row, float* sum, float* squares) {
      add_moments(x + row * channels, shift0, sum, squares, channels);
    });
    const int64_t batches = ++num_batches_tracked.data_ptr<int64_t>()[0];
    const float factor = static_cast<float>(momentum < 0 ? 1.0 / batches : momentum);
    float* means = mean.data_ptr<float>() + group * channels;
    float* invstds = invstd.data_ptr<float>() + group * channels;
    for (int64_t c = 0; c < channels; ++c) {
      const double offset = sums[c] / rows;
      const double var = std::max(sums[channels + c] / rows - offset * offset, 0.0);
      means[c] = static_cast<float>(origin[c] + offset);
      invstds[c] = static_cast<float>(1.0 / std::sqrt(var + eps));
      scale[c] = invstds[c] * gamma[c];
      shift[c] = beta[c] - means[c] * scale[c];
      moving_mean[c] = (1 - factor) * moving_mean[c] + factor * means[c];
      moving_var[c] = (1 - factor) * moving_var[c] +
                      factor * static_cast<float>(var * rows / std::max<int64_t>(rows - 1, 1));
    }
    const float* sc = scale.data();
    const float* sh = shift.data();
    const float leak = static_cast<float>(slope);
    at::parallel_for(0, rows, kGrain, [=](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        normalize_activate(x + row * channels, sc, sh, leak, y + row * channels, channels);
      }
    });
  }
  return {out, mean, invstd};
}

// The gradients of batch_norm_act_forward: input, weight, bias.
std::vector<at::Tensor> batch_norm_act_backward(const at::Tensor& grad_out, const at::Tensor& images,
                                                const at::Tensor& weight, const at::Tensor& bias,
                                                const at::Tensor& mean, const at::Tensor& invstd,
                                                double slope) {
  const int64_t groups = mean.size(0), channels = images.size(1);
  const int64_t rows = images.numel() / channels / groups;
  const float* gamma = weight.data_ptr<float>();
  const float* beta = bias.data_ptr<float>();
  auto options = images.options();
  auto grad_weight = at::zeros({channels}, options), grad_bias = at::zeros({channels}, options);
  auto grad_in = at::empty_like(images);
  std::vector<float> scale(channels), shift(channels), mean_g(channels), projection(channels);
  for (int64_t group = 0; group < groups; ++group) {
    const float* x = images.data_ptr<float>() + group * rows * channels;
    const float* dy = grad_out.data_ptr<float>() + group * rows * channels;
    float* dx = grad_in.data_ptr<float>() + group * rows * channels;
    const float* mu = mean.data_ptr<float>() + group * channels;
    const float* istd = invstd.data_ptr<float>() + group * channels;
    for (int64_t c = 0; c < channels; ++c) {
      scale[c] = istd[c] * gamma[c];
      shift[c] = beta[c] - mu[c] * scale[c];
    }
    const float* sc = scale.data();
    const float* sh = shift.data();
    const float leak = static_cast<float>(slope);
    const auto sums = channel_sums(rows, channels, [=](int64_t row, float* sum_g, float* sum_gx) {
      add_gradient_moments(x + row * channels, dy + row * channels, sc, sh, mu, leak, sum_g,
                           sum_gx, channels);
    });
    for (int64_t c = 0; c < channels; ++c) {
      grad_bias.data_ptr<float>()[c] += static_cast<float>(sums[c]);
      grad_weight.data_ptr<float>()[c] += static_cast<float>(sums[channels + c] * istd[c]);
      mean_g[c] = static_cast<float>(sums[c] / rows);
      projection[c] = static_cast<float>(sums[channels + c] / rows * istd[c] * istd[c]);
    }
    const float* mg = mean_g.data();
    const float* pr = projection.data();
    at::parallel_for(0, rows, kGrain, [=](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        input_gradient(x + row * channels, dy + row * channels, sc, sh, mu, mg, pr, leak,
                       dx + row * channels, channels);
      }
    });
  }
  return {grad_in, grad_weight, grad_bias};
}

// Elements per partial sum of total_norm.
constexpr int64_t kNormChunk = 1024;

float sum_of_squares(const float* __restrict__ values, int64_t count) {
  float sum = 0.f;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < count; ++i) sum += values[i] * values[i];
  return sum;
}

// pixel += tap over the channels.
void add_tap(const float* __restrict__ tap, float* __restrict__ pixel, int64_t channels) {
  for (int64_t c = 0; c < channels; ++c) pixel[c] += tap[c];
}

// The geometry of a col2im: input h x w pixels, k x k taps of C channels each at stride s, into
// out_h x out_w pixels.
struct Spread {
  int64_t height, width, kernel, stride, out_height, out_width, channels;
  int64_t rows_per_image() const { return height * width; }
  int64_t image_size() const { return out_height * out_width * channels; }
};

// Few channels: `count` images' taps, columns at `src` with any strides, added where they land,
// element by element, into the images at `dst`.
void scatter_images(const float* src, int64_t row_step, int64_t column_step, int64_t count,
                    float* dst, const Spread& g) {
  const int64_t channels = g.channels, kernel = g.kernel;
  std::fill(dst, dst + count * g.image_size(), 0.f);
  for (int64_t n = 0; n < count; ++n) {
    float* image = dst + n * g.image_size();
    for (int64_t i = 0; i < g.height; ++i) {
      for (int64_t j = 0; j < g.width; ++j) {
        const float* patch = src + ((n * g.height + i) * g.width + j) * row_step;
        for (int64_t ki = 0; ki < kernel; ++ki) {
          float* line = image + ((i * g.stride + ki) * g.out_width + j * g.stride) * channels;
          for (int64_t tap = 0; tap < kernel * channels; ++tap) {
            line[tap] += patch[(ki * kernel * channels + tap) * column_step];
          }
        }
      }
    }
  }
}

// Many channels: output lines [begin, end) (line = image * out_h + y) of the images at `dst`,
// each pixel the sum of the taps that reach it, from contiguous columns rows at `src` (row 0 is
// image 0's first pixel): every column read once, every pixel written once.
void gather_lines(const float* src, int64_t begin, int64_t end, float* dst, const Spread& g) {
  const int64_t channels = g.channels, kernel = g.kernel, stride = g.stride;
  const int64_t patch = kernel * kernel * channels;
  for (int64_t line = begin; line < end; ++line) {
    const int64_t n = line / g.out_height, y = line % g.out_height;
    for (int64_t x = 0; x < g.out_width; ++x) {
      float* pixel = dst + (line * g.out_width + x) * channels;
      std::fill(pixel, pixel + channels, 0.f);
      // Tap ki reaches row y from input row i = (y - ki) / stride when that divides and lies in
      // the input.
      for (int64_t ki = y % stride; ki < kernel && ki <= y; ki += stride) {
        const int64_t i = (y - ki) / stride;
        if (i >= g.height) continue;
        for (int64_t kj = x % stride; kj < kernel && kj <= x; kj += stride) {
          const int64_t j = (x - kj) / stride;
          if (j >= g.width) continue;
          add_tap(src + ((n * g.height + i) * g.width + j) * patch + (ki * kernel + kj) * channels,
                  pixel, channels);
        }
      }
    }
  }
}

// block(first, count) for the batch's blocks of `images_per_block` images, blocks in parallel.
template <typename Block>
void for_each_block(int64_t batch, int64_t images_per_block, const Block& block) {
  const int64_t blocks = (batch + images_per_block - 1) / images_per_block;
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t index = begin; index < end; ++index) {
      const int64_t first = index * images_per_block;
      block(first, std::min(images_per_block, batch - first));
    }
  });
}

// rows (N*h*w, C_in) @ matrix^T (matrix: (k*k*C_out, C_in)), then col2im: a transposed
// convolution's forward, a convolution's input gradient. `images_per_block` images at a time,
// each block one single-threaded product into columns of its own that stay in the core's cache
// for the col2im (the whole batch's columns are 5-11 MB here, written to memory and read back).
at::Tensor spread(const at::Tensor& rows, const at::Tensor& matrix, int64_t batch, int64_t height,
                  int64_t width, int64_t kernel, int64_t stride, int64_t out_height,
                  int64_t out_width, int64_t images_per_block) {
  const Spread g{height, width, kernel, stride, out_height, out_width,
                 matrix.size(0) / (kernel * kernel)};
  auto out = at::empty({batch, g.channels, out_height, out_width},
                       rows.options().memory_format(at::MemoryFormat::ChannelsLast));
  float* dst = out.data_ptr<float>();
  // MKL runs a product whose width is not a multiple of 8 (one AVX register) up to 3x slower than
  // its transpose; the few-channel scatter reads either layout.
  const bool transposed = matrix.size(0) % 8 != 0;
  TORCH_CHECK(!transposed || g.channels < kVectorChannels, "transposed columns need few channels");
  for_each_block(batch, images_per_block, [&](int64_t first, int64_t count) {
    const auto block = rows.narrow(0, first * g.rows_per_image(), count * g.rows_per_image());
    const auto columns = transposed ? at::mm(matrix, block.t()) : at::mm(block, matrix.t());
    float* images = dst + first * g.image_size();
    if (g.channels < kVectorChannels) {
      const int64_t row_step = transposed ? 1 : columns.stride(0);
      const int64_t column_step = transposed ? columns.stride(0) : 1;
      scatter_images(columns.data_ptr<float>(), row_step, column_step, count, images, g);
    } else {
      gather_lines(columns.data_ptr<float>(), 0, count * out_height, images, g);
    }
  });
  return out;
}

// The weight gradient of an unpadded strided correlation between a larger channels_last image
// (N, C, H, W) and a smaller one (N, C_s, h, w): im2col(larger)^T @ smaller's pixel rows, a
// (k*k*C, C_s) matrix. `images_per_block` images at a time, each block's im2col rows built in a
// buffer of its own and multiplied while they are in the core's cache (the whole batch's rows
// are 5-11 MB here); each thread adds its blocks' products into a sum of its own, the sums added
// in thread order.
at::Tensor weight_gradient(const at::Tensor& larger, const at::Tensor& smaller, int64_t kernel,
                           int64_t stride, int64_t images_per_block) {
  const int64_t batch = larger.size(0), channels = larger.size(1);
  const int64_t in_height = larger.size(2), in_width = larger.size(3);
  const int64_t height = smaller.size(2), width = smaller.size(3);
  const int64_t row_length = kernel * kernel * channels, rows_per_image = height * width;
  const float* src = larger.data_ptr<float>();
  // (N*h*w, C_s): channels_last memory read as a matrix.
  const auto grad_rows = smaller.permute({0, 2, 3, 1}).reshape({-1, smaller.size(1)});
  std::vector<at::Tensor> sums(at::get_num_threads());
  for_each_block(batch, images_per_block, [&](int64_t first, int64_t count) {
    auto rows = at::empty({count * rows_per_image, row_length}, larger.options());
    float* row = rows.data_ptr<float>();
    for (int64_t n = first; n < first + count; ++n) {
      for (int64_t i = 0; i < height; ++i) {
        for (int64_t j = 0; j < width; ++j, row += row_length) {
          // Tap row ki of the patch: k pixels in a row of the image, k*C contiguous values.
          for (int64_t ki = 0; ki < kernel; ++ki) {
            const float* line =
                src + ((n * in_height + i * stride + ki) * in_width + j * stride) * channels;
            std::copy(line, line + kernel * channels, row + ki * kernel * channels);
          }
        }
      }
    }
    const auto grad_block = grad_rows.narrow(0, first * rows_per_image, count * rows_per_image);
    auto& sum = sums[at::get_thread_num()];
    sum = sum.defined() ? sum.addmm_(rows.t(), grad_block) : at::mm(rows.t(), grad_block);
  });
  at::Tensor total;
  for (const auto& sum : sums) {
    if (sum.defined()) total = total.defined() ? total.add_(sum) : sum;
  }
  return total;
}

// y += a * x over the channels.
void add_scaled(float a, const float* __restrict__ x, float* __restrict__ y, int64_t channels) {
  for (int64_t c = 0; c < channels; ++c) y[c] += a * x[c];
}

// out[a, b] = sum over i of matrix[a, i] * in[i, b], for vectors of `channels` floats at the
// given steps: one small matrix applied along one axis of a Toom-Cook transform.
void apply_along(const float* matrix, int64_t outputs, int64_t inputs, int64_t others,
                 const float* in, int64_t in_step, int64_t in_other_step, float* out,
                 int64_t out_step, int64_t out_other_step, int64_t channels) {
  for (int64_t a = 0; a < outputs; ++a) {
    for (int64_t b = 0; b < others; ++b) {
      float* target = out + a * out_step + b * out_other_step;
      std::fill(target, target + channels, 0.f);
      for (int64_t i = 0; i < inputs; ++i) {
        if (matrix[a * inputs + i] == 0.f) continue;  // the transforms are mostly zeros
        add_scaled(matrix[a * inputs + i], in + i * in_step + b * in_other_step, target, channels);
      }
    }
  }
}

// Toom-Cook transforms of channels_last images: points (P*Q, N, C) with
// points[p, q, n] = sum over (i, j) of rows[p, i] * columns[q, j] * images[n, i, j], the product
// of the two small matrices along the image's axes, without a copy into planes first.
at::Tensor to_points(const at::Tensor& images, const at::Tensor& rows, const at::Tensor& columns) {
  const int64_t batch = images.size(0), channels = images.size(1);
  const int64_t height = images.size(2), width = images.size(3);
  const int64_t points_r = rows.size(0), points_c = columns.size(0);
  const at::Tensor row_matrix = rows.contiguous(), column_matrix = columns.contiguous();
  auto out = at::empty({points_r * points_c, batch, channels}, images.options());
  const float* x = images.data_ptr<float>();
  const float* r = row_matrix.data_ptr<float>();
  const float* q = column_matrix.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, batch, 1, [=](int64_t begin, int64_t end) {
    std::vector<float> along_rows(points_r * width * channels);  // (P, W, C)
    for (int64_t n = begin; n < end; ++n) {
      apply_along(r, points_r, height, width, x + n * height * width * channels, width * channels,
                  channels, along_rows.data(), width * channels, channels, channels);
      apply_along(q, points_c, width, points_r, along_rows.data(), channels, width * channels,
                  dst + n * channels, batch * channels, points_c * batch * channels, channels);
    }
  });
  return out;
}

// The other way: points (P*Q, N, C) -> a channels_last (N, C, H, W) image with
// image[n, y, x] = sum over (p, q) of rows[y, p] * columns[x, q] * points[p, q, n].
at::Tensor from_points(const at::Tensor& points, const at::Tensor& rows, const at::Tensor& columns) {
  const int64_t batch = points.size(1), channels = points.size(2);
  const int64_t height = rows.size(0), width = columns.size(0);
  const int64_t points_r = rows.size(1), points_c = columns.size(1);
  const at::Tensor row_matrix = rows.contiguous(), column_matrix = columns.contiguous();
  const at::Tensor source = points.contiguous();
  auto out = at::empty({batch, channels, height, width},
                       points.options().memory_format(at::MemoryFormat::ChannelsLast));
  const float* src = source.data_ptr<float>();
  const float* r = row_matrix.data_ptr<float>();
  const float* q = column_matrix.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, batch, 1, [=](int64_t begin, int64_t end) {
    std::vector<float> along_rows(height * points_c * channels);  // (H, Q, C)
    for (int64_t n = begin; n < end; ++n) {
      apply_along(r, height, points_r, points_c, src + n * channels, points_c * batch * channels,
                  batch * channels, along_rows.data(), points_c * channels, channels, channels);
      apply_along(q, width, points_c, height, along_rows.data(), channels, points_c * channels,
                  dst + n * height * width * channels, channels, width * channels, channels);
    }
  });
  return out;
}

// sqrt of the sum of squares of every element of `tensors` (dense float32, in any memory
// format): a gradient norm in one call, summed per chunk in float and across chunks in double.
at::Tensor total_norm(at::TensorList tensors) {
  double total = 0.0;
  for (const at::Tensor& tensor : tensors) {
    const float* values = tensor.data_ptr<float>();
    const int64_t count = tensor.numel(), chunks = (count + kNormChunk - 1) / kNormChunk;
    std::vector<double> partial(chunks, 0.0);
    double* partials = partial.data();
    at::parallel_for(0, chunks, 1, [=](int64_t begin, int64_t end) {
      for (int64_t chunk = begin; chunk < end; ++chunk) {
        const int64_t first = chunk * kNormChunk;
        partials[chunk] = sum_of_squares(values + first, std::min(kNormChunk, count - first));
      }
    });
    for (int64_t chunk = 0; chunk < chunks; ++chunk) total += partials[chunk];
  }
  return at::full({}, static_cast<float>(std::sqrt(total)), at::TensorOptions().dtype(at::kFloat));
}

}  // namespace

TORCH_LIBRARY(ganforge, m) {
  m.def("batch_norm_act_forward(Tensor images, Tensor weight, Tensor bias, Tensor(a!) running_mean,"
        " Tensor(b!) running_var, Tensor(c!) num_batches_tracked, float momentum, float eps,"
        " float slope, int groups) -> Tensor[]", &batch_norm_act_forward);
  m.def("batch_norm_act_backward(Tensor grad_out, Tensor images, Tensor weight, Tensor bias,"
        " Tensor mean, Tensor invstd, float slope) -> Tensor[]", &batch_norm_act_backward);
  m.def("spread(Tensor rows, Tensor matrix, int batch, int height, int width, int kernel,"
        " int stride, int out_height, int out_width, int images_per_block) -> Tensor", &spread);
  m.def("weight_gradient(Tensor larger, Tensor smaller, int kernel, int stride,"
        " int images_per_block) -> Tensor", &weight_gradient);
  m.def("to_points(Tensor images, Tensor rows, Tensor columns) -> Tensor", &to_points);
  m.def("from_points(Tensor points, Tensor rows, Tensor columns) -> Tensor", &from_points);
  m.def("total_norm(Tensor[] tensors) -> Tensor", &total_norm);
}
