// v-perm="'users:write'" removes an element the caller may not use.
import type { Directive } from 'vue'
import { useAuthStore } from './stores/auth'

export const vPerm: Directive<HTMLElement, string> = {
  mounted(el, binding) {
    if (!useAuthStore().can(binding.value)) el.remove()
  },
}
