// The slice shader NiiVue draws every 2D view with (Niivue.setCustomSliceShader).
//
// NiiVue's own slice shader samples a volume it has recoloured as a whole (window, colour map,
// overlays) on the GPU: every window change or overlay costs a pass over all voxels, seconds on
// a browser without a GPU. Here the full-resolution voxels sit in textures of their own and the
// window, the heat map, the vertebra outline and the target marker are applied per drawn pixel,
// so a window change or a new outline costs one redraw. `texPos` is the fractional position in
// NiiVue's background grid, which covers the same box as the voxel textures.

// Heat colour map stops [value, r, g, b] (0-1): the shader and the colour bar both use these.
export const HEAT_STOPS = [
  [0.0, 0.35, 0.0, 0.0],
  [0.35, 0.85, 0.1, 0.0],
  [0.7, 1.0, 0.6, 0.0],
  [1.0, 1.0, 1.0, 0.6],
];
export const OUTLINE_RGB = [1.0, 0.86, 0.0];
export const MARKER_RGB = [0.0, 1.0, 1.0];

const f = (v) => Number(v).toFixed(4);
const vec3 = (rgb) => `vec3(${rgb.map(f).join(", ")})`;

function heatFunction() {
  let body = `  vec3 c = ${vec3(HEAT_STOPS[0].slice(1))};\n`;
  for (let i = 1; i < HEAT_STOPS.length; i += 1) {
    const [v0] = HEAT_STOPS[i - 1];
    const [v1, ...rgb] = HEAT_STOPS[i];
    body += `  c = mix(c, ${vec3(rgb)}, clamp((h - ${f(v0)}) / ${f(v1 - v0)}, 0.0, 1.0));\n`;
  }
  return `vec3 heatColour(float h) {\n${body}  return c;\n}\n`;
}

export function heatGradientCss() {
  const stops = HEAT_STOPS.map(([v, r, g, b]) =>
    `rgb(${Math.round(255 * r)}, ${Math.round(255 * g)}, ${Math.round(255 * b)}) ${Math.round(100 * v)}%`);
  return `linear-gradient(to right, ${stops.join(", ")})`;
}

export const SLICE_SHADER = `#version 300 es
precision highp int;
precision highp float;
uniform highp sampler3D volume, overlay;
uniform highp sampler3D drawing;
uniform highp sampler3D paqd;
uniform highp sampler2D colormap;
uniform int axCorSag;
uniform float overlays;
uniform float opacity;
uniform float drawOpacity;
uniform highp sampler3D bclRaw;
uniform highp sampler3D bclMask;
uniform highp sampler3D bclHeat;
uniform vec2 bclWindow;
uniform float bclMaskOn;
uniform float bclHeatOn;
uniform float bclHeatOpacity;
uniform float bclPointOn;
uniform vec3 bclPoint;
uniform vec3 bclBoxMM;
uniform vec3 bclMaskLo;
uniform vec3 bclMaskSize;
uniform vec3 bclHeatLo;
uniform vec3 bclHeatSize;
in vec3 texPos;
out vec4 color;
${heatFunction()}
// Mask and heat map are blocks around the vertebra: [lo, lo + size] of the grid, in fractions.
vec3 local(vec3 p, vec3 lo, vec3 size) {
  return (p - lo) / size;
}
bool inBox(vec3 q) {
  return all(greaterThanEqual(q, vec3(0.0))) && all(lessThanEqual(q, vec3(1.0)));
}
float inside(vec3 p) {
  vec3 q = local(p, bclMaskLo, bclMaskSize);
  if (!inBox(q)) return 0.0;
  return texture(bclMask, q).r > 0.002 ? 1.0 : 0.0;  // uint8 1 reads 1/255
}
void main() {
  // Screen-pixel steps in the grid, taken first: derivatives are undefined inside branches.
  vec3 dx = dFdx(texPos);
  vec3 dy = dFdy(texPos);
  if (any(lessThan(texPos, vec3(0.0))) || any(greaterThan(texPos, vec3(1.0)))) {
    color = vec4(0.0);
    return;
  }
  float v = texture(bclRaw, texPos).r;
  float g = clamp((v - bclWindow.x) * bclWindow.y, 0.0, 1.0);
  color = vec4(g, g, g, opacity);
  if (bclHeatOn > 0.5) {
    vec3 q = local(texPos, bclHeatLo, bclHeatSize);
    float h = inBox(q) ? texture(bclHeat, q).r : 0.0;
    if (h > 0.004) {
      float a = bclHeatOpacity * smoothstep(0.0, 0.2, h);
      color.rgb = mix(color.rgb, heatColour(h), a);
    }
  }
  if (bclMaskOn > 0.5 && inside(texPos) > 0.5) {
    float edge = inside(texPos + dx) * inside(texPos - dx) * inside(texPos + dy) * inside(texPos - dy);
    if (edge < 0.5) color.rgb = ${vec3(OUTLINE_RGB)};
  }
  if (bclPointOn > 0.5) {
    vec3 d = (texPos - bclPoint) * bclBoxMM;
    float across = axCorSag == 0 ? d.z : (axCorSag == 1 ? d.y : d.x);
    if (axCorSag == 0) d.z = 0.0; else if (axCorSag == 1) d.y = 0.0; else d.x = 0.0;
    float r = length(d);
    if (abs(across) < 2.5 && r > 3.0 && r < 4.2) color.rgb = ${vec3(MARKER_RGB)};
  }
}
`;
