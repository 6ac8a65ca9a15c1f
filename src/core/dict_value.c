/* Values in and out of the dict's entries and list nodes. */
#include "dict_internal.h"

#include <errno.h>
#include <string.h>

void dict_put_value(unsigned char *dst, const shmlua_dict_value *v) {
  unsigned char b;
  switch (v->type) {
  case SHMLUA_DICT_BOOLEAN:
    b = v->as.boolean != 0;
    memcpy(dst, &b, 1);
    break;
  case SHMLUA_DICT_INTEGER:
    memcpy(dst, &v->as.integer, 8);
    break;
  case SHMLUA_DICT_FLOAT:
    memcpy(dst, &v->as.number, 8);
    break;
  default:
    if (v->as.string.len)
      memcpy(dst, v->as.string.bytes, v->as.string.len);
  }
}

int dict_get_value(uint32_t type, const unsigned char *src, uint64_t len,
                   shmlua_dict_reserve reserve, void *ud, shmlua_dict_value *out) {
  void *dst;
  out->type = (shmlua_dict_vtype)type;
  switch (type) {
  case SHMLUA_DICT_BOOLEAN:
    out->as.boolean = src[0] != 0;
    return 0;
  case SHMLUA_DICT_INTEGER:
    memcpy(&out->as.integer, src, 8);
    return 0;
  case SHMLUA_DICT_FLOAT:
    memcpy(&out->as.number, src, 8);
    return 0;
  default:
    if (!(dst = reserve(ud, (size_t)len)))
      return ENOMEM;
    memcpy(dst, src, (size_t)len);
    out->as.string.bytes = dst;
    out->as.string.len = (size_t)len;
    return 0;
  }
}
