// Look and language: dark mode (html.dark, Element Plus's dark CSS
// variables) and the locale, both remembered in localStorage.
import { defineStore } from 'pinia'
import { ref, watch } from 'vue'
import { LOCALE_KEY, type Locale } from '../i18n'

const DARK_KEY = 'plugboard.dark'

export const useUiStore = defineStore('ui', () => {
  const stored = localStorage.getItem(DARK_KEY)
  const dark = ref(stored === null ? window.matchMedia?.('(prefers-color-scheme: dark)').matches ?? false : stored === '1')
  const locale = ref<Locale>('en')
  const reducedMotion = window.matchMedia?.('(prefers-reduced-motion: reduce)').matches ?? false

  watch(dark, (d) => {
    document.documentElement.classList.toggle('dark', d)
  }, { immediate: true })

  function toggleDark() {
    dark.value = !dark.value
    localStorage.setItem(DARK_KEY, dark.value ? '1' : '0')
  }

  function setLocale(l: Locale, remember = true) {
    locale.value = l
    document.documentElement.lang = l
    if (remember) localStorage.setItem(LOCALE_KEY, l)
  }

  return { dark, locale, reducedMotion, toggleDark, setLocale }
})
